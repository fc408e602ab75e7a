// The job detail's log, read in keyset pages either way from the lines held: it opens at the
// newest lines, older pages come as the reader scrolls up, newer ones as they are written (while
// following) or as the reader scrolls back down. The live stream only says that lines were
// written: they are read in pages after the newest line held, so a drop or a pause misses none.
// Its search, minimum level and time range live in the URL.
import { batch, computed, effect, signal, untracked } from "@preact/signals";
import type { ResultOf } from "../graphql";
import { JobLogsLive, LogsQuery, type LogFields } from "../screens/job/logDocuments";
import { ApiError, request, subscribe } from "../services/connection";
import type { LogLevel } from "../utilities/statuses";
import type { LoadState } from "./jobs";
import { jobId } from "./job";
import { route } from "./route";
import { sessionState } from "./session";

const PAGE = 100;
/** Lines held at most: those dropped at the far end are read again if the reader scrolls back. */
const KEPT = 5000;
/** While following a busy job, new lines are read at most this often. */
const FOLLOW_EVERY_MS = 250;

export type LogLine = ResultOf<typeof LogFields>;
/** A line and its cursor: pages go on either way from it. */
export type HeldLine = { cursor: string; line: LogLine };
type Arrival = ResultOf<typeof JobLogsLive>["jobLogs"];
type Order = "ASC" | "DESC";

function instant(name: string): string | null {
  const value = route.value.params.get(name);
  return value && !Number.isNaN(Date.parse(value)) ? new Date(value).toISOString() : null;
}

export const logSearch = computed(() => route.value.params.get("logq") || null);
export const logLevel = computed(() => (route.value.params.get("level") as LogLevel | null) || null);
/** The time range shown: from (included) and to (excluded), ISO instants. */
export const logFrom = computed(() => instant("logfrom"));
export const logTo = computed(() => instant("logto"));

/** Oldest first, as the view draws them. */
export const logLines = signal<HeldLine[]>([]);
export const logsState = signal<LoadState>("loading");
export const logsError = signal<string | null>(null);
/** How many lines the filters show, as of the last read at the newest end. */
export const logTotal = signal<number | null>(null);
/** The server holds lines older (newer) than those held. */
export const olderRemain = signal(false);
export const newerRemain = signal(false);
/** The view stays at the newest line and new lines are read as they are written. */
export const following = signal(true);
/** Lines the filters show that were written while the reader was not following. */
export const unseenLines = signal(0);

let generation = 0;
/** One read at a time, in order: each goes on from the lines the one before it left. */
let reading: Promise<void> = Promise.resolve();
let olderQueued = false;
let newerQueued = false;
let newerReadAt = 0;

function queue(read: () => Promise<void>): void {
  reading = reading.then(read);
}

async function readPage(order: Order, after: string | null, counted: boolean) {
  const data = await request(LogsQuery, {
    id: jobId.value!,
    first: PAGE,
    after,
    order,
    level: logLevel.value,
    search: logSearch.value,
    since: logFrom.value,
    until: logTo.value,
    counted,
  });
  const logs = data.job?.logs;
  return {
    held: logs?.edges.map((edge) => ({ cursor: edge.cursor, line: edge.node })) ?? [],
    more: logs?.pageInfo.hasNextPage ?? false,
    total: logs?.totalCount ?? null,
  };
}

function failed(current: number, error: unknown): void {
  if (current !== generation) return;
  batch(() => {
    logsError.value = error instanceof ApiError ? error.message : String(error);
    if (logsState.value === "loading") logsState.value = "error";
  });
}

async function openNewest(current: number): Promise<void> {
  if (current !== generation) return;
  try {
    const page = await readPage("DESC", null, true);
    if (current !== generation) return;
    batch(() => {
      logLines.value = page.held.reverse();
      olderRemain.value = page.more;
      newerRemain.value = false;
      logTotal.value = page.total;
      unseenLines.value = 0;
      following.value = true;
      logsError.value = null;
      logsState.value = "ready";
    });
  } catch (error) {
    failed(current, error);
  }
}

/** The page before the oldest line held. */
export function loadOlder(): void {
  if (olderQueued || !olderRemain.value) return;
  olderQueued = true;
  const current = generation;
  queue(async () => {
    try {
      const oldest = logLines.value[0];
      if (current !== generation || !oldest) return;
      const page = await readPage("DESC", oldest.cursor, false);
      if (current !== generation) return;
      batch(() => {
        const lines = [...page.held.reverse(), ...logLines.value];
        if (lines.length > KEPT) {
          lines.length = KEPT;
          newerRemain.value = true;
          following.value = false;
        }
        logLines.value = lines;
        olderRemain.value = page.more;
        logsError.value = null;
      });
    } catch (error) {
      failed(current, error);
    } finally {
      olderQueued = false;
    }
  });
}

/** The page after the newest line held; following, the next ones too until none is left. */
export function loadNewer(): void {
  readNewer(false);
}

/** `paced`: for lines announced by the stream, read at most every FOLLOW_EVERY_MS. */
function readNewer(paced: boolean): void {
  if (newerQueued) return;
  newerQueued = true;
  const current = generation;
  queue(async () => {
    const wait = paced ? newerReadAt + FOLLOW_EVERY_MS - performance.now() : 0;
    if (wait > 0) await new Promise((resolve) => window.setTimeout(resolve, wait));
    // Lines announced from now on ask for another read.
    newerQueued = false;
    if (current !== generation) return;
    newerReadAt = performance.now();
    try {
      const newest = logLines.value[logLines.value.length - 1];
      const page = await readPage("ASC", newest?.cursor ?? null, true);
      if (current !== generation) return;
      batch(() => {
        const lines = [...logLines.value, ...page.held];
        if (lines.length > KEPT) {
          lines.splice(0, lines.length - KEPT);
          olderRemain.value = true;
        }
        logLines.value = lines;
        newerRemain.value = page.more;
        logTotal.value = page.total;
        logsError.value = null;
      });
      if (page.more && following.value) readNewer(false);
    } catch (error) {
      failed(current, error);
    }
  });
}

export function pauseFollowing(): void {
  following.value = false;
}

/** Back to the newest line, following: what is newer than the lines held is read again. */
export function followNewest(): void {
  if (!newerRemain.value) {
    batch(() => {
      following.value = true;
      unseenLines.value = 0;
    });
    return;
  }
  const current = generation;
  queue(() => openNewest(current));
}

/** Whether the reader's search and time range show a line (its level the stream filtered). */
function shown(line: Arrival): boolean {
  const search = logSearch.value;
  const from = logFrom.value;
  const to = logTo.value;
  const at = Date.parse(line.at);
  return (
    (!search || line.message.toLowerCase().includes(search.toLowerCase())) &&
    (!from || at >= Date.parse(from)) &&
    (!to || at < Date.parse(to))
  );
}

function arrived(line: Arrival): void {
  if (!shown(line)) return;
  if (following.value) {
    readNewer(true);
    return;
  }
  batch(() => {
    unseenLines.value += 1;
    newerRemain.value = true;
  });
}

effect(() => {
  const id = jobId.value;
  void logSearch.value;
  void logLevel.value;
  void logFrom.value;
  void logTo.value;
  if (sessionState.value !== "signed-in" || !id) return;
  return untracked(() => {
    const current = ++generation;
    batch(() => {
      logLines.value = [];
      logsState.value = "loading";
      logsError.value = null;
      logTotal.value = null;
      olderRemain.value = false;
      newerRemain.value = false;
      following.value = true;
      unseenLines.value = 0;
    });
    const unsubscribe = subscribe(JobLogsLive, () => ({ id, level: logLevel.value }), {
      next: (data) => {
        if (current === generation) arrived(data.jobLogs);
      },
      // Lines written while the stream was down are newer than the newest held.
      resumed: () => {
        if (current !== generation) return;
        if (following.value) loadNewer();
        else newerRemain.value = true;
      },
    });
    queue(() => openNewest(current));
    return unsubscribe;
  });
});
