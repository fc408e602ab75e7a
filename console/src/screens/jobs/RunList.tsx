// The runs the filter shows, newest first. Live events change cells, never the rows. Only the
// rows in view, and a few either side, are in the DOM, so 10,000 runs scroll like 10; nearing
// the last loaded row asks for the next page.
import { useEffect, useRef } from "preact/hooks";
import { Fact } from "../../components/Fact";
import { Link } from "../../components/Link";
import { ProgressBar } from "../../components/ProgressBar";
import { StatusLabel } from "../../components/StatusLabel";
import { now } from "../../stores/clock";
import {
  loadMoreRuns,
  moreRuns,
  newRuns,
  refresh,
  runs,
  runsError,
  runsState,
  runsTotal,
  selectedId,
  type RunRow,
} from "../../stores/jobs";
import { route } from "../../stores/route";
import { isSelected, loadedSelection, selectRange, setLoaded, toggle } from "../../stores/selection";
import { seesAllTenants, viewer } from "../../stores/session";
import { bulkActionsFor } from "../../utilities/actions";
import { formatCount, formatDuration, formatMoment } from "../../utilities/format";
import { JOB_OUTCOMES, JOB_STATUSES } from "../../utilities/statuses";
import { currentTimes, timesGrow } from "../../utilities/timings";
import { useVirtualizer } from "../../utilities/virtual";
import { BulkBar } from "./BulkBar";

/** A row's height in px without children's progress (.run), as drawn; rows are measured once
 * drawn, and a row that measures other than its estimate costs the list a second redraw. */
const ROW_ESTIMATE = 114;
const OVERSCAN = 6;
/** The next page is asked for when the drawn rows come this close to the last loaded one. */
const LOAD_AHEAD = 20;

export function RunList() {
  const rows = runs.value;
  const state = runsState.value;
  const fresh = newRuns.value.size;
  // A role that may take no bulk action has nothing to select runs for.
  const offered = bulkActionsFor(viewer.value?.role);
  const selecting = offered.length > 0;
  const loaded = loadedSelection.value;
  const scroller = useRef<HTMLDivElement>(null);
  const virtual = useVirtualizer<RunRow, HTMLLIElement>(scroller, {
    items: rows,
    key: (row) => row.id,
    estimate: ROW_ESTIMATE,
    overscan: OVERSCAN,
  });
  const drawn = virtual.getVirtualItems();
  const last = drawn[drawn.length - 1];
  const more = moreRuns.value !== null;

  useEffect(() => {
    if (more && last && last.index >= rows.length - LOAD_AHEAD) void loadMoreRuns();
  }, [more, last?.index, rows.length]);

  const before = drawn[0]?.start ?? 0;
  // Before a row is drawn the box is as tall as the rows would be: a box of no height shows none.
  const after = virtual.getTotalSize() - (last?.end ?? 0);
  // While pages remain, the total is the server's count.
  const setSize = runsTotal.value ?? rows.length;
  return (
    <section class="runs" aria-labelledby="runs-title">
      <div class="pane-head">
        {selecting && (
          <input
            type="checkbox"
            class="run-check"
            aria-label="Select the loaded runs"
            checked={loaded === "all"}
            indeterminate={loaded === "some"}
            disabled={rows.length === 0}
            onChange={(event) => setLoaded(event.currentTarget.checked)}
          />
        )}
        <h2 id="runs-title">Runs</h2>
        <span class="count" aria-live="polite">
          {state === "loading" ? "Loading…" : runsTotal.value !== null && `${formatCount(runsTotal.value)} runs`}
        </span>
        {/* Kept in the layout while nothing is new, so its arrival never moves a row. */}
        <button
          type="button"
          class="pill runs-new"
          style={fresh > 0 ? undefined : { visibility: "hidden" }}
          onClick={refresh}
        >
          {fresh} new · Refresh
        </button>
      </div>
      {selecting && <BulkBar offered={offered} />}
      {state === "error" && (
        <p class="notice notice-danger" role="alert">
          {runsError.value}
        </p>
      )}
      {state !== "error" && rows.length === 0 && state === "ready" && (
        <p class="empty">No runs match. Start a job through the API, or change the filters.</p>
      )}
      {/* Focusable, so the keyboard scrolls it too. */}
      <div class="run-scroll" ref={scroller} tabIndex={0}>
        <ul class="run-list" aria-labelledby="runs-title" aria-busy={state === "loading"} data-rows>
          {before > 0 && <Spacer height={before} />}
          {drawn.map((item) => {
            const row = rows[item.index]!;
            return (
              <RunItem
                key={row.id}
                row={row}
                index={item.index}
                setSize={setSize}
                measure={virtual.measureElement}
                selecting={selecting}
              />
            );
          })}
          {after > 0 && <Spacer height={after} />}
        </ul>
      </div>
    </section>
  );
}

/** The height of the rows not drawn, so the scroll bar tells where the reader is. */
function Spacer({ height }: { height: number }) {
  return <li class="run-spacer" aria-hidden="true" style={{ height: `${height}px` }} />;
}

function selectHref(id: string): string {
  const params = new URLSearchParams(route.value.params);
  params.set("run", id);
  params.delete("records");
  return `${route.value.path}?${params}`;
}

type ItemProps = {
  row: RunRow;
  index: number;
  /** How many runs the list holds, loaded or not. */
  setSize: number;
  measure: (node: HTMLLIElement | null) => void;
  /** Whether the row offers its checkbox: the role may take a bulk action. */
  selecting: boolean;
};

// Its props change only when the row moves or the list grows: scrolling draws the rows coming
// into view alone, and an event redraws its own row (the row's signals).
function RunItem({ row, index, setSize, measure, selecting }: ItemProps) {
  const run = row.run.value;
  const status = JOB_STATUSES[run.status];
  // Only a row whose times grow reads the clock, so only such rows redraw each second.
  const elapsed = timesGrow(run) ? Math.max(0, (now.value - row.receivedAt.value) / 1000) : 0;
  const { waiting, duration } = currentTimes(run, elapsed);
  const nameId = `run-${run.id}`;
  const selected = selectedId.value === run.id;
  const systemRun = run.system || run.runBy?.kind === "SYSTEM";
  // A job without children has a children total of 0.
  const hasChildren = run.childrenProgress.total !== 0;
  return (
    <li
      class={`run${hasChildren ? " run-with-children" : ""}${selected ? " selected" : ""}`}
      aria-labelledby={nameId}
      data-row-id={run.id}
      tabIndex={-1}
      aria-posinset={index + 1}
      aria-setsize={setSize}
      data-index={index}
      ref={measure}
    >
      <div class="run-head">
        {selecting && (
          <input
            type="checkbox"
            class="run-check"
            aria-label={`Select ${run.name}`}
            aria-keyshortcuts="x"
            checked={isSelected(run.id)}
            onClick={(event) => (event.shiftKey ? selectRange(run.id) : toggle(run.id))}
          />
        )}
        <Link href={selectHref(run.id)} class="run-name" id={nameId} current={selected}>
          {run.name}
        </Link>
        <span class="run-type" aria-label="Type">
          {run.type}
        </span>
        {seesAllTenants.value && (
          <span class="run-tenant" aria-label="Tenant">
            {run.tenant.slug}
          </span>
        )}
        {run.lowPriority && <span class="tag">Low priority</span>}
        <Link href={`/jobs/${run.id}`} class="run-detail">
          Details<span class="visually-hidden"> of {run.name}</span>
        </Link>
        <span class="run-status" aria-label="Status">
          <StatusLabel look={status} />
          {run.outcome && <StatusLabel look={JOB_OUTCOMES[run.outcome]} class={`outcome outcome-${run.outcome}`} />}
        </span>
      </div>
      <ProgressBar progress={run.progress} label={`Progress of ${run.name}`} />
      {hasChildren && (
        <div class="run-children">
          <span class="run-children-label" aria-hidden="true">
            Children
          </span>
          <ProgressBar progress={run.childrenProgress} label={`Children of ${run.name}`} />
        </div>
      )}
      <dl class="run-facts">
        <Fact label="Run by" value={systemRun ? "" : (run.runBy?.name ?? "")} />
        <Fact label="Created" value={formatMoment(run.createdAt)} />
        <Fact label="Waiting" value={formatDuration(waiting)} />
        <Fact label="Started" value={formatMoment(run.startedAt)} />
        <Fact label="Ended" value={formatMoment(run.endedAt)} />
        <Fact label="Duration" value={formatDuration(duration)} />
        <Fact
          label="Errors"
          value={formatCount(run.progress.failed)}
          class={run.hasErrors ? "fact-danger" : undefined}
        />
      </dl>
    </li>
  );
}
