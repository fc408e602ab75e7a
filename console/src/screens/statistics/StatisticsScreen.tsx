// The Statistics page: jobs created, started, finished and failed, their waiting times and
// durations, and the records processed, bucketed by hour or day over the range the URL names.
import { Fact } from "../../components/Fact";
import { Header } from "../../components/Header";
import {
  buckets,
  refreshStatistics,
  shownView,
  statisticsError,
  statisticsState,
  totals,
  type StatisticsView,
} from "../../stores/statistics";
import { formatCount, formatDuration } from "../../utilities/format";
import { RangeControls } from "./RangeControls";
import { formatBucketStart, StatChart, type ChartSpec } from "./StatChart";

const CHARTS: ChartSpec[] = [
  {
    id: "jobs",
    title: "Jobs",
    unit: "count",
    series: [
      { figure: "created", label: "Created", color: "--chart-1" },
      { figure: "started", label: "Started", color: "--chart-2" },
      { figure: "finished", label: "Finished", color: "--chart-3" },
      { figure: "failed", label: "Failed", color: "--chart-4" },
    ],
  },
  {
    id: "waiting",
    title: "Waiting time",
    unit: "seconds",
    series: [
      { figure: "waitAvg", label: "Average", color: "--chart-1" },
      { figure: "waitMin", label: "Min", color: "--chart-3" },
      { figure: "waitMax", label: "Max", color: "--chart-4" },
      { figure: "waitP95", label: "95th percentile", color: "--chart-2" },
    ],
  },
  {
    id: "duration",
    title: "Duration",
    unit: "seconds",
    series: [
      { figure: "durationAvg", label: "Average", color: "--chart-1" },
      { figure: "durationP95", label: "95th percentile", color: "--chart-2" },
    ],
  },
  {
    id: "records",
    title: "Records processed",
    unit: "count",
    series: [{ figure: "recordsProcessed", label: "Records", color: "--chart-1" }],
  },
];

function describe(view: StatisticsView): string {
  const per = view.bucket === "HOUR" ? "per hour" : "per day";
  const last = new Date(Date.parse(view.to) - 1);
  return `${per}, ${formatBucketStart(new Date(view.from), view.bucket)} to ${formatBucketStart(last, view.bucket)} UTC`;
}

export function StatisticsScreen() {
  const view = shownView.value;
  const state = statisticsState.value;
  const sum = totals.value;
  return (
    <>
      <Header>
        <button type="button" class="primary" aria-keyshortcuts="r" onClick={refreshStatistics}>
          Refresh
        </button>
      </Header>
      <main class="detail statistics" aria-busy={state === "loading"}>
        <h1>Statistics</h1>
        <RangeControls />
        {state === "error" && (
          <p class="notice notice-danger" role="alert">
            {statisticsError.value}
          </p>
        )}
        {!view && state === "loading" && <p class="empty">Loading the statistics…</p>}
        {view && (
          <>
            <section class="card" aria-labelledby="totals-title">
              <div class="card-head">
                <h2 id="totals-title">In this range</h2>
                <span class="count">{describe(view)}</span>
              </div>
              <dl class="run-facts stat-totals">
                <Fact label="Created" value={formatCount(sum.created)} />
                <Fact label="Started" value={formatCount(sum.started)} />
                <Fact label="Finished" value={formatCount(sum.finished)} />
                <Fact label="Failed" value={formatCount(sum.failed)} class={sum.failed ? "fact-danger" : undefined} />
                <Fact label="Average wait" value={formatDuration(sum.waitAvg)} />
                <Fact label="Records processed" value={formatCount(sum.recordsProcessed)} />
              </dl>
            </section>
            <div class="stat-charts">
              {CHARTS.map((spec) => (
                <StatChart key={spec.id} spec={spec} buckets={buckets.value} bucket={view.bucket} caption={describe(view)} />
              ))}
            </div>
          </>
        )}
      </main>
    </>
  );
}
