// The job detail's log: newest first, filtered by a search and a minimum level from the URL,
// with the lines written from now on added on top as they arrive.
import { batch, computed, effect, signal, untracked } from "@preact/signals";
import type { ResultOf } from "../graphql";
import { JobLogsLive, LogsQuery, type LogFields } from "../screens/job/documents";
import { ApiError, request, subscribe } from "../services/connection";
import type { LogLevel } from "../utilities/statuses";
import type { LoadState } from "./jobs";
import { jobId } from "./job";
import { route } from "./route";
import { sessionState } from "./session";

const PAGE = 100;
/** The log is read oldest first; the newest lines are reached by reading up to this many. */
const READ_LIMIT = 2000;
/** Lines drawn at first; "Show older lines" draws more of what was read. */
export const LOG_SHOWN = 100;

export type LogLine = ResultOf<typeof LogFields>;

export const logSearch = computed(() => route.value.params.get("logq") || null);
export const logLevel = computed(() => (route.value.params.get("level") as LogLevel | null) || null);

/** Newest first. */
export const logLines = signal<LogLine[]>([]);
export const logsState = signal<LoadState>("loading");
export const logsError = signal<string | null>(null);
/** The log holds more lines than were read (the oldest are left out). */
export const logsCut = signal(false);
export const logsShown = signal(LOG_SHOWN);

let generation = 0;

function matches(line: LogLine, search: string | null): boolean {
  return !search || line.message.toLowerCase().includes(search.toLowerCase());
}

async function loadLogs(id: string, current: number): Promise<void> {
  logsState.value = "loading";
  const read: LogLine[] = [];
  let after: string | null = null;
  let more = true;
  try {
    while (more && read.length < READ_LIMIT) {
      const data: ResultOf<typeof LogsQuery> = await request(LogsQuery, {
        id,
        first: PAGE,
        after,
        level: logLevel.value,
        search: logSearch.value,
      });
      if (current !== generation || !data.job) return;
      read.push(...data.job.logs.edges.map((edge) => edge.node));
      more = data.job.logs.pageInfo.hasNextPage;
      after = data.job.logs.pageInfo.endCursor;
    }
  } catch (error) {
    if (current !== generation) return;
    logsError.value = error instanceof ApiError ? error.message : String(error);
    logsState.value = "error";
    return;
  }
  batch(() => {
    // Lines that arrived live while the pages were read stay, once.
    const known = new Set(read.map((line) => line.id));
    const live = logLines.value.filter((line) => !known.has(line.id));
    logLines.value = [...live, ...read.reverse()];
    logsCut.value = more;
    logsShown.value = LOG_SHOWN;
    logsError.value = null;
    logsState.value = "ready";
  });
}

export function showOlderLogs(): void {
  logsShown.value += LOG_SHOWN;
}

effect(() => {
  const id = jobId.value;
  void logSearch.value;
  void logLevel.value;
  if (sessionState.value !== "signed-in" || !id) return;
  return untracked(() => {
    const current = ++generation;
    const search = logSearch.value;
    logLines.value = [];
    const unsubscribe = subscribe(JobLogsLive, () => ({ id, level: logLevel.value }), {
      next: (data) => {
        const line = data.jobLogs;
        if (current !== generation || !matches(line, search)) return;
        if (logLines.value.some((shown) => shown.id === line.id)) return;
        logLines.value = [line, ...logLines.value];
      },
      // Lines written while the stream was down are read again.
      resumed: () => void loadLogs(id, current),
    });
    void loadLogs(id, current);
    return unsubscribe;
  });
});
