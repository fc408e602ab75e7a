// The job's log card: a search, a minimum level and a time range (kept in the URL), how many lines
// they show, following the newest lines, and the lines themselves (LogView).
import { useRef } from "preact/hooks";
import {
  followNewest,
  following,
  logFrom,
  logLevel,
  logSearch,
  logsError,
  logsState,
  logTo,
  logTotal,
  logLines,
  pauseFollowing,
  unseenLines,
} from "../../stores/logs";
import { navigate, route, withParams } from "../../stores/route";
import { formatCount } from "../../utilities/format";
import { LOG_LEVELS, type LogLevel } from "../../utilities/statuses";
import { LogView } from "./LogView";

const SEARCH_SETTLES_MS = 300;

function filter(changes: Record<string, string | null>) {
  navigate(route.value.path, withParams(changes), true);
}

export function Logs() {
  const typing = useRef<number | undefined>(undefined);
  function search(value: string) {
    window.clearTimeout(typing.current);
    typing.current = window.setTimeout(() => filter({ logq: value.trim() || null }), SEARCH_SETTLES_MS);
  }
  const state = logsState.value;
  const total = logTotal.value;
  const unseen = unseenLines.value;
  return (
    <section class="card log-card" aria-labelledby="logs-title">
      <div class="card-head">
        <h2 id="logs-title">Log</h2>
        {total !== null && (
          <span class="count" aria-label="Lines shown">
            {formatCount(total)} {total === 1 ? "line" : "lines"}
          </span>
        )}
        {!following.value && unseen > 0 && (
          <button type="button" class="pill" onClick={followNewest}>
            {formatCount(unseen)} new {unseen === 1 ? "line" : "lines"}
          </button>
        )}
        <button
          type="button"
          class="log-follow"
          aria-pressed={following.value}
          title="Keep the newest lines in view as they are written"
          onClick={() => (following.value ? pauseFollowing() : followNewest())}
        >
          Follow
        </button>
      </div>
      {/* Labels beside their controls, not around them: a control's value is no part of its name. */}
      <div class="log-filters">
        <div class="filter log-search">
          <label for="log-search">Search the log</label>
          <input
            id="log-search"
            type="search"
            aria-keyshortcuts="/"
            value={logSearch.value ?? ""}
            onInput={(event) => search(event.currentTarget.value)}
          />
        </div>
        <div class="filter">
          <label for="log-level">Level</label>
          <select id="log-level" onChange={(event) => filter({ level: event.currentTarget.value || null })}>
            <option value="" selected={!logLevel.value}>
              Any
            </option>
            {(Object.keys(LOG_LEVELS) as LogLevel[]).map((level) => (
              <option value={level} selected={logLevel.value === level}>
                {LOG_LEVELS[level].label} and above
              </option>
            ))}
          </select>
        </div>
        <div class="filter">
          <label for="log-from">From</label>
          <input
            id="log-from"
            type="datetime-local"
            step={1}
            value={localInput(logFrom.value)}
            onChange={(event) => filter({ logfrom: instant(event.currentTarget.value) })}
          />
        </div>
        <div class="filter">
          <label for="log-to">To</label>
          <input
            id="log-to"
            type="datetime-local"
            step={1}
            value={localInput(logTo.value)}
            onChange={(event) => filter({ logto: instant(event.currentTarget.value) })}
          />
        </div>
      </div>
      {logsError.value && (
        <p class="notice notice-danger" role="alert">
          {logsError.value}
        </p>
      )}
      {state === "loading" && <p class="empty">Loading the log…</p>}
      {state === "ready" && logLines.value.length === 0 && <p class="empty">No log lines match.</p>}
      <LogView labelledBy="logs-title" />
    </section>
  );
}

/** An ISO instant as a datetime-local input shows it: the reader's own time zone, to the second. */
function localInput(iso: string | null): string {
  if (!iso) return "";
  const moment = new Date(iso);
  return new Date(moment.getTime() - moment.getTimezoneOffset() * 60_000).toISOString().slice(0, 19);
}

/** What a datetime-local input holds (the reader's time zone) as an ISO instant. */
function instant(value: string): string | null {
  return value ? new Date(value).toISOString() : null;
}
