// The job detail's state: the job the path names, kept current by its event stream (resumed
// from the last seq after a drop), and its parts: chunks, children, history, records.
import { batch, computed, effect, signal, untracked } from "@preact/signals";
import type { ResultOf } from "../graphql";
import {
  ChildrenQuery,
  ChunkRecordsQuery,
  ChunksQuery,
  HistoryQuery,
  JobDetailQuery,
  JobUpdated,
  type HistoryFields,
  type JobDetailFields,
} from "../screens/job/documents";
import { RecordsQuery } from "../screens/jobs/documents";
import { ApiError, request, subscribe } from "../services/connection";
import type { RecordStatus } from "../utilities/statuses";
import type { LoadState, RunRecord } from "./jobs";
import { pathId, route } from "./route";
import { sessionState } from "./session";

const PAGE = 100;
/** The chunk map draws this many cells at most (pages of PAGE, one after another). */
export const CHUNK_MAP_LIMIT = 5000;
/** Chunks, children and the listed records follow events at most this often. */
const PARTS_EVERY_MS = 2000;

export type JobDetail = ResultOf<typeof JobDetailFields>;
export type HistoryEvent = ResultOf<typeof HistoryFields>;
export type ChunkCell = NonNullable<ResultOf<typeof ChunksQuery>["job"]>["chunks"]["edges"][number]["node"];
export type ChildJob = NonNullable<ResultOf<typeof ChildrenQuery>["job"]>["children"]["edges"][number]["node"];

export const jobId = computed(() => pathId("jobs"));

export const job = signal<JobDetail | null>(null);
/** performance.now() when the job's timings arrived: growing durations count on from there. */
export const jobReceivedAt = signal(performance.now());
export const jobState = signal<LoadState | "missing">("loading");
export const jobError = signal<string | null>(null);

export const history = signal<HistoryEvent[]>([]);
export const moreHistory = signal<string | null>(null);

export const chunks = signal<ChunkCell[]>([]);
export const chunksState = signal<LoadState>("loading");
/** More chunks than the map draws. */
export const chunksCut = signal(false);

export const children = signal<ChildJob[]>([]);
export const childrenTotal = signal(0);

let generation = 0;
/** The last seq the stream delivered (or the first query showed): a resubscription resumes after it. */
let lastSeq = 0;

/** A newer state of the job (an event, a mutation's answer): patched in place. */
export function accept(next: JobDetail): void {
  const shown = job.value;
  if (shown && (shown.id !== next.id || next.seq < shown.seq)) return;
  batch(() => {
    job.value = next;
    jobReceivedAt.value = performance.now();
  });
}

async function loadJob(id: string, current: number): Promise<JobDetail | null> {
  try {
    const data = await request(JobDetailQuery, { id });
    if (current !== generation) return null;
    if (!data.job) {
      jobState.value = "missing";
      return null;
    }
    batch(() => {
      job.value = data.job;
      jobReceivedAt.value = performance.now();
      jobState.value = "ready";
    });
    return data.job;
  } catch (error) {
    if (current !== generation) return null;
    // A malformed id answers like a missing one: nothing to show.
    if (error instanceof ApiError && error.code === "NOT_FOUND") jobState.value = "missing";
    else {
      jobError.value = error instanceof ApiError ? error.message : String(error);
      jobState.value = "error";
    }
    return null;
  }
}

async function loadHistory(after: string | null): Promise<void> {
  const id = jobId.value;
  const current = generation;
  if (!id) return;
  const data = await request(HistoryQuery, { id, first: PAGE, after });
  if (current !== generation || !data.job) return;
  const page = data.job.history;
  batch(() => {
    const known = after ? history.value : [];
    const seen = new Set(known.map((event) => event.seq));
    history.value = [...known, ...page.edges.map((edge) => edge.node).filter((event) => !seen.has(event.seq))];
    moreHistory.value = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
  });
}

export function loadMoreHistory(): Promise<void> {
  return moreHistory.value ? loadHistory(moreHistory.value) : Promise.resolve();
}

async function loadChunks(): Promise<void> {
  const id = jobId.value;
  const current = generation;
  if (!id) return;
  const cells: ChunkCell[] = [];
  let after: string | null = null;
  let more = true;
  while (more && cells.length < CHUNK_MAP_LIMIT) {
    const data: ResultOf<typeof ChunksQuery> = await request(ChunksQuery, { id, first: PAGE, after });
    if (current !== generation || !data.job) return;
    cells.push(...data.job.chunks.edges.map((edge) => edge.node));
    more = data.job.chunks.pageInfo.hasNextPage;
    after = data.job.chunks.pageInfo.endCursor;
  }
  batch(() => {
    chunks.value = cells;
    chunksCut.value = more;
    chunksState.value = "ready";
  });
}

async function loadChildren(): Promise<void> {
  const id = jobId.value;
  const current = generation;
  if (!id) return;
  const data = await request(ChildrenQuery, { id, first: PAGE, after: null });
  if (current !== generation || !data.job) return;
  batch(() => {
    children.value = data.job!.children.edges.map((edge) => edge.node);
    childrenTotal.value = data.job!.children.totalCount;
  });
}

/** A child's own children, for the tree's disclosure (not kept: the tree holds them). */
export async function childrenOf(id: string): Promise<ChildJob[]> {
  const data = await request(ChildrenQuery, { id, first: PAGE, after: null });
  return data.job?.children.edges.map((edge) => edge.node) ?? [];
}

// ------------------------------------------------------------------ the records panel

/** The chunk the map selected (its index), or the record status the panel lists. */
export const selectedChunk = computed(() => {
  const value = route.value.params.get("chunk");
  return value !== null && /^\d+$/.test(value) ? Number(value) : null;
});
export const listedStatus = computed(() => (route.value.params.get("records") as RecordStatus | null) || null);
const selectedChunkId = computed(() => {
  const index = selectedChunk.value;
  return index === null ? null : (chunks.value.find((cell) => cell.index === index)?.id ?? null);
});

export const panelRecords = signal<RunRecord[]>([]);
export const panelState = signal<LoadState>("ready");
export const morePanel = signal<string | null>(null);
let panelGeneration = 0;

async function loadPanel(after: string | null): Promise<void> {
  const id = jobId.value;
  const chunk = selectedChunkId.value;
  const status = listedStatus.value;
  if (!id || (!chunk && !status)) {
    panelRecords.value = [];
    return;
  }
  const current = after ? panelGeneration : ++panelGeneration;
  if (!after) panelState.value = "loading";
  try {
    const page = chunk
      ? (await request(ChunkRecordsQuery, { chunk, first: PAGE, after })).node
      : (await request(RecordsQuery, { job: id, first: PAGE, after, status: [status!] })).job;
    if (current !== panelGeneration) return;
    const records = page && "records" in page ? page.records : null;
    batch(() => {
      const nodes = records?.edges.map((edge) => edge.node) ?? [];
      panelRecords.value = after ? [...panelRecords.value, ...nodes] : nodes;
      morePanel.value = records?.pageInfo.hasNextPage ? records.pageInfo.endCursor : null;
      panelState.value = "ready";
    });
  } catch {
    if (current === panelGeneration) panelState.value = "error";
  }
}

/** The cursor of the page on its way: scrolling on asks for it once. */
let panelPending: string | null = null;

export async function loadMorePanel(): Promise<void> {
  const after = morePanel.value;
  if (!after || after === panelPending) return;
  panelPending = after;
  try {
    await loadPanel(after);
  } finally {
    if (panelPending === after) panelPending = null;
  }
}

// ------------------------------------------------------------------ following the job

let partsTimer: number | undefined;
let partsLoadedAt = 0;

function refreshParts(): void {
  partsLoadedAt = performance.now();
  void loadChunks().catch(() => {});
  void loadChildren().catch(() => {});
  if (selectedChunkId.value || listedStatus.value) void loadPanel(null);
}

/** Events come many a second while a job runs; its parts follow at a calm pace. */
function scheduleParts(): void {
  if (partsTimer !== undefined) return;
  const wait = Math.max(0, partsLoadedAt + PARTS_EVERY_MS - performance.now());
  partsTimer = window.setTimeout(() => {
    partsTimer = undefined;
    refreshParts();
  }, wait);
}

function received(event: HistoryEvent & { job: JobDetail }): void {
  lastSeq = Math.max(lastSeq, event.seq);
  accept(event.job);
  const shown = history.value;
  const last = shown[shown.length - 1];
  // History pages run oldest first: a new event belongs at the end once the last page is in.
  if (event.kind !== "PROGRESS" && !moreHistory.value && (!last || event.seq > last.seq)) {
    history.value = [...shown, event];
  }
  scheduleParts();
}

/** The header's Refresh on this page: everything again from the server. */
export function refreshJob(): void {
  const id = jobId.value;
  if (!id) return;
  void loadJob(id, generation);
  void loadHistory(null).catch(() => {});
  refreshParts();
}

effect(() => {
  const id = jobId.value;
  if (sessionState.value !== "signed-in" || !id) return;
  return untracked(() => {
    const current = ++generation;
    window.clearTimeout(partsTimer);
    partsTimer = undefined;
    batch(() => {
      if (job.value?.id !== id) {
        job.value = null;
        history.value = [];
        chunks.value = [];
        children.value = [];
        childrenTotal.value = 0;
        chunksState.value = "loading";
      }
      jobState.value = job.value ? "ready" : "loading";
      jobError.value = null;
    });
    let unsubscribe: (() => void) | null = null;
    let stopped = false;
    void loadJob(id, current).then((loaded) => {
      if (!loaded || stopped) return;
      lastSeq = loaded.seq;
      void loadHistory(null).catch(() => {});
      refreshParts();
      // Resumes after the last seq seen: a reconnect replays exactly what it missed.
      unsubscribe = subscribe(JobUpdated, () => ({ id, afterSeq: lastSeq }), {
        next: (data) => received(data.jobUpdated),
        resumed: () => {},
      });
    });
    return () => {
      stopped = true;
      unsubscribe?.();
      window.clearTimeout(partsTimer);
      partsTimer = undefined;
    };
  });
});

effect(() => {
  void selectedChunkId.value;
  void listedStatus.value;
  if (sessionState.value !== "signed-in" || !jobId.value) return;
  untracked(() => void loadPanel(null));
});
