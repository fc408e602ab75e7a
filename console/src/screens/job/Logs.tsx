// The job's log, newest first: a search and a minimum level (kept in the URL), new lines on
// top as they are written, and chips that open a line's chunk or record.
import { useRef } from "preact/hooks";
import { StatusLabel } from "../../components/StatusLabel";
import { findRecord } from "../../stores/job";
import {
  logLevel,
  logLines,
  logsCut,
  logSearch,
  logsError,
  logsShown,
  logsState,
  showOlderLogs,
  type LogLine,
} from "../../stores/logs";
import { navigate, route, withParams } from "../../stores/route";
import { formatMoment } from "../../utilities/format";
import { LOG_LEVELS, type LogLevel } from "../../utilities/statuses";

const SEARCH_SETTLES_MS = 300;

export function Logs() {
  const typing = useRef<number | undefined>(undefined);
  const lines = logLines.value;
  const shown = lines.slice(0, logsShown.value);
  function search(value: string) {
    window.clearTimeout(typing.current);
    typing.current = window.setTimeout(
      () => navigate(route.value.path, withParams({ logq: value.trim() || null }), true),
      SEARCH_SETTLES_MS,
    );
  }
  return (
    <section class="card" aria-labelledby="logs-title">
      <div class="card-head">
        <h2 id="logs-title">Log</h2>
        <label class="filter filter-inline">
          <span>Search the log</span>
          <input type="search" value={logSearch.value ?? ""} onInput={(event) => search(event.currentTarget.value)} />
        </label>
        <label class="filter filter-inline">
          <span>Level</span>
          <select
            onChange={(event) => navigate(route.value.path, withParams({ level: event.currentTarget.value || null }), true)}
          >
            <option value="" selected={!logLevel.value}>
              Any
            </option>
            {(Object.keys(LOG_LEVELS) as LogLevel[]).map((level) => (
              <option value={level} selected={logLevel.value === level}>
                {LOG_LEVELS[level].label} and above
              </option>
            ))}
          </select>
        </label>
      </div>
      {logsState.value === "error" && (
        <p class="notice notice-danger" role="alert">
          {logsError.value}
        </p>
      )}
      {logsState.value === "ready" && lines.length === 0 && <p class="empty">No log lines match.</p>}
      <ol class="log-lines" aria-labelledby="logs-title" aria-busy={logsState.value === "loading"}>
        {shown.map((line) => (
          <LogItem key={line.id} line={line} />
        ))}
      </ol>
      {lines.length > shown.length && (
        <button type="button" class="quiet more" onClick={showOlderLogs}>
          Show older lines
        </button>
      )}
      {logsCut.value && lines.length <= shown.length && (
        <p class="hint">The oldest lines of this long log are left out.</p>
      )}
    </section>
  );
}

function LogItem({ line }: { line: LogLine }) {
  const chunk = line.chunkIndex;
  async function openRecord() {
    if (chunk === null || !line.recordKey) return;
    const id = await findRecord(chunk, line.recordKey);
    if (id) navigate(`/records/${id}`, {});
  }
  return (
    <li class={`log-line log-${line.level}`}>
      <span class="log-at">{formatMoment(line.at)}</span>
      <StatusLabel look={LOG_LEVELS[line.level]} />
      <span class="log-message">{line.message}</span>
      {chunk !== null && (
        <button
          type="button"
          class="chip"
          onClick={() => navigate(route.value.path, withParams({ chunk: String(chunk), records: null }), true)}
        >
          chunk {chunk}
        </button>
      )}
      {chunk !== null && line.recordKey && (
        <button type="button" class="chip" aria-label={`Open record ${line.recordKey}`} onClick={() => void openRecord()}>
          {line.recordKey}
        </button>
      )}
    </li>
  );
}
