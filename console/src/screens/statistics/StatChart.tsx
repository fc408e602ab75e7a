// One chart of the statistics (uPlot on a canvas) and its data table twin for screen readers.
// Colours are the theme's custom properties, read when the chart is drawn; a change of colour
// scheme draws it again.
import { signal } from "@preact/signals";
import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { BucketSize, StatsBucket } from "../../stores/statistics";
import { formatCount, formatDuration } from "../../utilities/format";

type Figure = Exclude<keyof StatsBucket, "start">;

export type ChartSeries = { figure: Figure; label: string; color: `--chart-${string}` };
export type ChartSpec = { id: string; title: string; unit: "count" | "seconds"; series: ChartSeries[] };

const HEIGHT = 220;
/** Fewer buckets than this get a dot each: one lonely value still shows. */
const DOTS_UP_TO = 60;

const darkScheme = matchMedia("(prefers-color-scheme: dark)");
/** The colour scheme the theme follows; charts draw again when it changes. */
const scheme = signal(darkScheme.matches ? "dark" : "light");
darkScheme.addEventListener("change", () => (scheme.value = darkScheme.matches ? "dark" : "light"));

function themeColor(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

const two = (value: number) => String(value).padStart(2, "0");

/** A bucket's start as the chart's legend and the table show it: UTC, to the hour or the day. */
export function formatBucketStart(moment: Date, bucket: BucketSize): string {
  const day = `${moment.getUTCFullYear()}-${two(moment.getUTCMonth() + 1)}-${two(moment.getUTCDate())}`;
  return bucket === "DAY" ? day : `${day} ${two(moment.getUTCHours())}:00`;
}

export function formatFigure(value: number | null, unit: ChartSpec["unit"]): string {
  if (value == null) return "—";
  return unit === "count" ? formatCount(value) : formatDuration(value);
}

function options(spec: ChartSpec, bucket: BucketSize, width: number, count: number): uPlot.Options {
  const axis = themeColor("--chart-axis");
  const grid = themeColor("--chart-grid");
  const font = `12px ${themeColor("--font")}`;
  const dots = count <= DOTS_UP_TO;
  return {
    width,
    height: HEIGHT,
    // The buckets are UTC hours and days: the axis reads them in UTC too.
    tzDate: (seconds) => uPlot.tzDate(new Date(seconds * 1000), "Etc/UTC"),
    cursor: { drag: { x: false, y: false } },
    scales: {
      y: { range: (_plot, _min, max) => [0, max > 0 ? max * 1.1 : 1] },
    },
    series: [
      { label: "Bucket (UTC)", value: (_plot, seconds) => (seconds == null ? "—" : formatBucketStart(new Date(seconds * 1000), bucket)) },
      ...spec.series.map((series) => ({
        label: series.label,
        stroke: themeColor(series.color),
        width: 2,
        points: { show: dots, size: 5, fill: themeColor(series.color) },
        value: (_plot: uPlot, value: number | null) => formatFigure(value, spec.unit),
      })),
    ],
    axes: [
      { stroke: axis, font, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } },
      {
        stroke: axis,
        font,
        size: 64,
        grid: { stroke: grid, width: 1 },
        ticks: { stroke: grid, width: 1 },
        values: (_plot, splits) => splits.map((value) => formatFigure(value, spec.unit)),
      },
    ],
  };
}

function chartData(spec: ChartSpec, buckets: StatsBucket[]): uPlot.AlignedData {
  return [
    buckets.map((bucket) => Date.parse(bucket.start) / 1000),
    ...spec.series.map((series) => buckets.map((bucket) => bucket[series.figure])),
  ];
}

type Props = { spec: ChartSpec; buckets: StatsBucket[]; bucket: BucketSize; caption: string };

export function StatChart({ spec, buckets, bucket, caption }: Props) {
  const holder = useRef<HTMLDivElement>(null);
  const [tableShown, setTableShown] = useState(false);
  const colors = scheme.value;

  useEffect(() => {
    const element = holder.current;
    if (!element) return;
    const plot = new uPlot(options(spec, bucket, element.clientWidth, buckets.length), chartData(spec, buckets), element);
    const resized = new ResizeObserver(() => {
      if (element.clientWidth !== plot.width) plot.setSize({ width: element.clientWidth, height: HEIGHT });
    });
    resized.observe(element);
    return () => {
      resized.disconnect();
      plot.destroy();
    };
  }, [spec, buckets, bucket, colors]);

  const tableId = `${spec.id}-table`;
  return (
    <section class="card stat-chart" aria-labelledby={`${spec.id}-title`}>
      <div class="card-head">
        <h2 id={`${spec.id}-title`}>{spec.title}</h2>
        <button
          type="button"
          class="quiet"
          aria-expanded={tableShown}
          aria-controls={tableId}
          onClick={() => setTableShown(!tableShown)}
        >
          {tableShown ? "Hide table" : "Show table"}
        </button>
      </div>
      {/* The canvas says nothing to a screen reader: the table below holds the same figures. */}
      <div class="chart" ref={holder} aria-hidden="true" />
      {/* Focusable, so the keyboard scrolls a table wider than the screen. */}
      <div class="table-scroll stat-table-scroll" id={tableId} hidden={!tableShown} tabIndex={0}>
        {tableShown && (
          <table class="stat-table">
            <caption>
              {spec.title}, {caption}
            </caption>
            <thead>
              <tr>
                <th scope="col">{bucket === "HOUR" ? "Hour (UTC)" : "Day (UTC)"}</th>
                {spec.series.map((series) => (
                  <th scope="col" class="number">
                    {series.label}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {buckets.map((row) => (
                <tr key={row.start}>
                  <th scope="row">{formatBucketStart(new Date(row.start), bucket)}</th>
                  {spec.series.map((series) => (
                    <td class="number">{formatFigure(row[series.figure], spec.unit)}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
    </section>
  );
}
