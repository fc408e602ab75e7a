// The Jobs page's state: the runs the filter in the URL shows, the selected run's records,
// and the live stream that keeps visible rows current without ever moving them.
import { batch, computed, effect, signal, untracked, type Signal } from "@preact/signals";
import { type ResultOf, type VariablesOf } from "../graphql";
import { RecordsQuery, RunFields, RunsChanged, RunsQuery } from "../screens/jobs/documents";
import { ApiError, request, subscribe } from "../services/connection";
import { localDayStart } from "../utilities/days";
import { ENDED, type JobStatus, type RecordStatus } from "../utilities/statuses";
import { jobEnded } from "./announcements";
import { route } from "./route";
import { seesAllTenants, sessionState } from "./session";

const RUNS_PAGE = 50;
/** The most runs one query returns (`jobs(first:)`). */
const MOST_RUNS = 100;
const RECORDS_PAGE = 100;

export type Run = ResultOf<typeof RunFields>;
export type JobFilter = NonNullable<VariablesOf<typeof RunsQuery>["filter"]>;
export type RunRecord = NonNullable<ResultOf<typeof RecordsQuery>["job"]>["records"]["edges"][number]["node"];

/** One signal per row: an event re-renders its row alone. `receivedAt` (performance.now())
 * is when the server's timings arrived; growing durations count on from there. */
export type RunRow = { id: string; run: Signal<Run>; receivedAt: Signal<number> };

export type LoadState = "loading" | "ready" | "error";

// ------------------------------------------------------------------ what the URL asks for

/** The search and filters, read from the URL (q, status, type, by, from, to, system). */
export const filter = computed<JobFilter>(() => {
  const params = route.value.params;
  return {
    search: params.get("q") || null,
    status: params.get("status") ? [params.get("status") as JobStatus] : null,
    type: params.get("type") ? [params.get("type") as string] : null,
    runBy: params.get("by") || null,
    createdAfter: localDayStart(params.get("from")),
    createdBefore: localDayStart(params.get("to"), 1),
    includeSystem: params.get("system") === "1" || null,
  };
});
/** The filter as a value: equal for equal filters, whatever else the URL says. */
export const filterKey = computed(() => JSON.stringify(filter.value));

export const selectedId = computed(() => route.value.params.get("run"));
export const recordStatus = computed(() => (route.value.params.get("records") as RecordStatus | null) || null);

// ------------------------------------------------------------------ runs

export const runs = signal<RunRow[]>([]);
export const runsTotal = signal<number | null>(null);
export const runsState = signal<LoadState>("loading");
export const runsError = signal<string | null>(null);
export const moreRuns = signal<string | null>(null);
/** Runs that appeared since the list was drawn: counted, not inserted, until Refresh. */
export const newRuns = signal<ReadonlySet<string>>(new Set());

/** Who ran the runs listed so far, by principal id: what the Run by filter offers. Kept across
 * filters, so narrowing to one runner still offers the others. */
export const runners = signal<ReadonlyMap<string, string>>(new Map());

let runsGeneration = 0;

function row(run: Run): RunRow {
  return { id: run.id, run: signal(run), receivedAt: signal(performance.now()) };
}

function rememberRunners(listed: Run[]): void {
  const unseen = listed.filter(
    (run) => run.runBy && run.runBy.kind !== "SYSTEM" && runners.value.get(run.runBy.id) !== run.runBy.name,
  );
  if (unseen.length === 0) return;
  const known = new Map(runners.value);
  for (const run of unseen) known.set(run.runBy!.id, run.runBy!.name);
  runners.value = known;
}

/** Redraws the list from a fresh query: the one moment rows may change place. */
export async function refreshRuns(): Promise<void> {
  const generation = ++runsGeneration;
  runsState.value = "loading";
  try {
    const { jobs } = await request(RunsQuery, { first: RUNS_PAGE, after: null, filter: filter.value });
    if (generation !== runsGeneration) return;
    batch(() => {
      runs.value = jobs.edges.map((edge) => row(edge.node));
      rememberRunners(jobs.edges.map((edge) => edge.node));
      runsTotal.value = jobs.totalCount;
      moreRuns.value = jobs.pageInfo.hasNextPage ? jobs.pageInfo.endCursor : null;
      newRuns.value = new Set();
      runsError.value = null;
      runsState.value = "ready";
    });
  } catch (error) {
    if (generation !== runsGeneration) return;
    runsError.value = error instanceof ApiError ? error.message : String(error);
    runsState.value = "error";
  }
}

/** The cursor of the page of runs on its way: scrolling on asks for it once. */
let runsPending: string | null = null;

/** Appends the next page below the rows already shown. */
export async function loadMoreRuns(): Promise<void> {
  const after = moreRuns.value;
  if (!after || after === runsPending) return;
  const generation = runsGeneration;
  runsPending = after;
  const { jobs } = await request(RunsQuery, { first: RUNS_PAGE, after, filter: filter.value }).finally(() => {
    if (runsPending === after) runsPending = null;
  });
  if (generation !== runsGeneration) return;
  const known = new Set(runs.value.map((shown) => shown.id));
  batch(() => {
    rememberRunners(jobs.edges.map((edge) => edge.node));
    runs.value = [...runs.value, ...jobs.edges.filter((edge) => !known.has(edge.node.id)).map((edge) => row(edge.node))];
    moreRuns.value = jobs.pageInfo.hasNextPage ? jobs.pageInfo.endCursor : null;
  });
}

/** A job as the server sees it now: patches its row in place, or counts it as new. */
function received(run: Run): void {
  const shown = runs.value.find((candidate) => candidate.id === run.id);
  if (shown) {
    // Events of one job come in seq order; a PROGRESS event repeats the latest seq.
    if (run.seq >= shown.run.value.seq) {
      if (ENDED.has(run.status) && !ENDED.has(shown.run.value.status)) jobEnded(run);
      batch(() => {
        shown.run.value = run;
        shown.receivedAt.value = performance.now();
      });
    }
    return;
  }
  if (isNewerThanList(run) && !newRuns.value.has(run.id)) {
    newRuns.value = new Set([...newRuns.value, run.id]);
  }
}

/** A run the list would show above its last row (not one further down an unloaded page). */
function isNewerThanList(run: Run): boolean {
  const last = runs.value[runs.value.length - 1];
  return !moreRuns.value || !last || run.createdAt >= last.run.value.createdAt;
}

/** After the stream was down, when it could not resume where it stood: what changed meanwhile
 * in the first runs listed, patched in place like live events. */
async function catchUp(): Promise<void> {
  const generation = runsGeneration;
  const { jobs } = await request(RunsQuery, {
    first: Math.min(MOST_RUNS, Math.max(RUNS_PAGE, runs.value.length)),
    after: null,
    filter: filter.value,
  });
  if (generation !== runsGeneration) return;
  batch(() => jobs.edges.forEach((edge) => received(edge.node)));
}

// A new filter (or signing in) redraws the list and listens to the jobs it shows.
// Only the filter's value counts: selecting a run changes the URL but not the list.
effect(() => {
  void filterKey.value;
  if (sessionState.value !== "signed-in") return;
  return untracked(() => {
    void refreshRuns();
    const current = filter.value;
    // The tenantSeq of the last event applied. After a drop the stream resumes after it
    // (afterSeq): the server replays exactly the events missed, in order. A tenantSeq counts one
    // tenant's events, so a viewer of every tenant cannot resume: a query catches up instead.
    let applied: number | null = null;
    const resumable = !seesAllTenants.value;
    const catchUpByQuery = () => catchUp().catch(() => {});
    return subscribe(RunsChanged, () => ({ filter: current, afterSeq: resumable ? applied : null }), {
      next: ({ jobsChanged: event }) => {
        if (resumable && event.tenantSeq !== null) applied = Math.max(applied ?? 0, event.tenantSeq);
        received(event.job);
      },
      resumed: () => (resumable && applied !== null ? undefined : catchUpByQuery()),
      // Too far behind to replay: listen afresh, and catch up by a query.
      refused: () => {
        if (applied === null) return false;
        applied = null;
        void catchUpByQuery();
        return true;
      },
    });
  });
});

// ------------------------------------------------------------------ records of the selected run

export const records = signal<RunRecord[]>([]);
export const recordsState = signal<LoadState>("loading");
export const recordsError = signal<string | null>(null);
export const moreRecords = signal<string | null>(null);

let recordsGeneration = 0;
let shownRecords = "";

async function loadRecords(after: string | null): Promise<void> {
  const job = selectedId.value;
  if (!job) return;
  const generation = after ? recordsGeneration : ++recordsGeneration;
  const key = `${job} ${recordStatus.value}`;
  if (!after) {
    // Another run or status: the rows shown belong to the old one, so they go at once.
    if (key !== shownRecords) records.value = [];
    shownRecords = key;
    recordsState.value = "loading";
  }
  try {
    const data = await request(RecordsQuery, {
      job,
      first: RECORDS_PAGE,
      after,
      status: recordStatus.value ? [recordStatus.value] : null,
    });
    if (generation !== recordsGeneration) return;
    const page = data.job?.records;
    batch(() => {
      if (!page) {
        records.value = [];
        moreRecords.value = null;
        recordsError.value = "This run does not exist, or it belongs to another tenant.";
        recordsState.value = "error";
        return;
      }
      const nodes = page.edges.map((edge) => edge.node);
      records.value = after ? [...records.value, ...nodes] : nodes;
      moreRecords.value = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
      recordsError.value = null;
      recordsState.value = "ready";
    });
  } catch (error) {
    if (generation !== recordsGeneration) return;
    recordsError.value = error instanceof ApiError ? error.message : String(error);
    recordsState.value = "error";
  }
}

export function refreshRecords(): Promise<void> {
  return loadRecords(null);
}

/** The cursor of the page on its way: scrolling on asks for it once. */
let recordsPending: string | null = null;

export async function loadMoreRecords(): Promise<void> {
  const after = moreRecords.value;
  if (!after || after === recordsPending) return;
  recordsPending = after;
  try {
    await loadRecords(after);
  } finally {
    if (recordsPending === after) recordsPending = null;
  }
}

effect(() => {
  void recordStatus.value;
  if (sessionState.value !== "signed-in" || !selectedId.value) return;
  untracked(() => void refreshRecords());
});

/** The header's Refresh: the list and the selected run's records, redrawn from the server. */
export function refresh(): void {
  void refreshRuns();
  void refreshRecords();
}
