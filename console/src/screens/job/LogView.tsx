// The job's log as lines, oldest at the top. Only the lines in view, and a few either side, are in
// the DOM, so a log of 50,000 lines scrolls like one of 50. It opens at the newest line and, while
// following, stays there as lines are written; scrolling up pauses following, scrolling back down
// to the newest line resumes it. Nearing either end of the lines held reads the next page.
import { Component } from "preact";
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { Link } from "../../components/Link";
import { StatusLabel } from "../../components/StatusLabel";
import {
  followNewest,
  following,
  loadNewer,
  loadOlder,
  logLines,
  logTotal,
  logsState,
  newerRemain,
  olderRemain,
  pauseFollowing,
  type HeldLine,
  type LogLine,
} from "../../stores/logs";
import { navigate, route, withParams } from "../../stores/route";
import { formatMoment } from "../../utilities/format";
import { LOG_LEVELS } from "../../utilities/statuses";
import { useVirtualizer } from "../../utilities/virtual";

/** A collapsed line's height in px (.log-row); expanded ones are measured once drawn. */
const ROW_ESTIMATE = 31;
const OVERSCAN = 10;
/** The next page is asked for when the drawn lines come this close to either end of those held. */
const LOAD_AHEAD = 40;
/** Closer than this to the bottom is at the newest line. */
const AT_END_PX = 8;

export function LogView({ labelledBy }: { labelledBy: string }) {
  const scroller = useRef<HTMLDivElement>(null);
  const lastTop = useRef(0);
  const [expanded, setExpanded] = useState<ReadonlySet<string>>(new Set());
  const held = logLines.value;
  const follow = following.value;
  // While the reader reads back, the line in view stays in place as lines are added or dropped at
  // either end; while following, the view is kept at the end, and anchoring a line would pull it back.
  const rows = useVirtualizer<HeldLine, HTMLLIElement>(scroller, {
    items: held,
    key: (entry) => entry.line.id,
    estimate: ROW_ESTIMATE,
    overscan: OVERSCAN,
    anchorTo: follow ? "start" : "end",
  });
  const drawn = rows.getVirtualItems();
  const first = drawn[0];
  const last = drawn[drawn.length - 1];

  // Following keeps the newest line in view, whatever was added or measured.
  useLayoutEffect(() => {
    const box = scroller.current;
    if (follow && box && fromEnd(box) > 0) {
      box.scrollTop = box.scrollHeight;
      lastTop.current = box.scrollTop;
    }
  });

  useEffect(() => {
    if (!first || !last || follow) return;
    if (first.index < LOAD_AHEAD && olderRemain.value) loadOlder();
    if (last.index >= held.length - LOAD_AHEAD && newerRemain.value) loadNewer();
  }, [first?.index, last?.index, held.length, follow, olderRemain.value, newerRemain.value]);

  function scrolled() {
    const box = scroller.current!;
    const up = box.scrollTop < lastTop.current - 1;
    lastTop.current = box.scrollTop;
    const atEnd = fromEnd(box) <= AT_END_PX;
    if (following.value && up && !atEnd) pauseFollowing();
    else if (!following.value && !up && atEnd && !newerRemain.value) followNewest();
  }

  const toggle = useCallback((id: string) => {
    setExpanded((shown) => {
      const next = new Set(shown);
      if (!next.delete(id)) next.add(id);
      return next;
    });
  }, []);

  // Only some lines are in the DOM: each tells a screen reader where it stands among all of them.
  // Lines held are the newest ones unless newer remain; the first held is the oldest of all
  // unless older remain.
  const older = olderRemain.value;
  const newer = newerRemain.value;
  const total = logTotal.value;
  const setSize = older || newer ? (total ?? -1) : held.length;
  const skipped = !older ? 0 : !newer && total !== null ? total - held.length : null;

  const before = first?.start ?? 0;
  const after = last ? rows.getTotalSize() - last.end : 0;
  return (
    // Focusable, so the keyboard scrolls it too (End goes back to the newest line).
    <div class="log-scroll" ref={scroller} tabIndex={0} onScroll={scrolled}>
      <ol class="log-lines" aria-labelledby={labelledBy} aria-busy={logsState.value === "loading"}>
        {before > 0 && <Spacer height={before} />}
        {drawn.map((item) => {
          const { line } = held[item.index]!;
          return (
            <LogItem
              key={line.id}
              line={line}
              index={item.index}
              setSize={setSize}
              position={skipped === null ? undefined : skipped + item.index + 1}
              measure={rows.measureElement}
              expanded={expanded.has(line.id)}
              toggle={toggle}
            />
          );
        })}
        {after > 0 && <Spacer height={after} />}
      </ol>
    </div>
  );
}

function fromEnd(box: HTMLElement): number {
  return box.scrollHeight - box.scrollTop - box.clientHeight;
}

/** The height of the lines not drawn, so the scroll bar tells where the reader is. */
function Spacer({ height }: { height: number }) {
  return <li class="log-spacer" aria-hidden="true" style={{ height: `${height}px` }} />;
}

type ItemProps = {
  line: LogLine;
  index: number;
  /** How many lines the log has (-1 while unknown), and this one's place among them. */
  setSize: number;
  position: number | undefined;
  measure: (node: HTMLLIElement | null) => void;
  expanded: boolean;
  toggle: (id: string) => void;
};

/** A line, drawn again only when it changes: scrolling draws the lines coming into view alone. */
class LogItem extends Component<ItemProps> {
  shouldComponentUpdate(next: ItemProps) {
    const shown = this.props;
    return (
      next.line !== shown.line ||
      next.index !== shown.index ||
      next.expanded !== shown.expanded ||
      next.setSize !== shown.setSize ||
      next.position !== shown.position
    );
  }

  render({ line, index, setSize, position, measure, expanded, toggle }: ItemProps) {
    const chunk = line.chunkIndex;
    const [headline] = line.message.split("\n", 1);
    const detailed = line.message.includes("\n") || hasFields(line.fields);
    return (
      <li
        class={`log-line log-${line.level}`}
        data-index={index}
        aria-setsize={setSize}
        aria-posinset={position}
        ref={measure}
      >
        <div class="log-row">
          <time class="log-at" dateTime={line.at} title={line.at}>
            {formatMoment(line.at)}
          </time>
          <StatusLabel look={LOG_LEVELS[line.level]} />
          <span class="log-message">{headline}</span>
          {chunk !== null && (
            <button
              type="button"
              class="chip"
              aria-label={`Select chunk ${chunk}`}
              onClick={() => navigate(route.value.path, withParams({ chunk: String(chunk), records: null }), true)}
            >
              chunk {chunk}
            </button>
          )}
          {line.recordKey &&
            (line.record ? (
              <Link href={`/records/${line.record.id}`} class="chip">
                <span class="visually-hidden">Record </span>
                {line.recordKey}
              </Link>
            ) : (
              <span class="chip chip-plain" title="No record with this key has been written yet">
                {line.recordKey}
              </span>
            ))}
          {detailed && (
            <button type="button" class="quiet log-toggle" aria-expanded={expanded} onClick={() => toggle(line.id)}>
              <span aria-hidden="true">{expanded ? "▾" : "▸"}</span> Details
            </button>
          )}
        </div>
        {expanded && <LogDetails line={line} />}
      </li>
    );
  }
}

function hasFields(fields: unknown): boolean {
  return typeof fields === "object" && fields !== null && Object.keys(fields).length > 0;
}

/** The whole message and its fields, as text a reader pastes elsewhere. */
function fullText(line: LogLine): string {
  return hasFields(line.fields) ? `${line.message}\n${JSON.stringify(line.fields, null, 2)}` : line.message;
}

function LogDetails({ line }: { line: LogLine }) {
  const [said, setSaid] = useState("");
  const text = fullText(line);
  async function copy() {
    try {
      await navigator.clipboard.writeText(text);
      setSaid("Copied");
    } catch {
      setSaid("The browser did not allow copying");
    }
  }
  return (
    <div class="log-details">
      <pre class="log-text">{text}</pre>
      <div class="log-copy">
        <button type="button" onClick={() => void copy()}>
          Copy
        </button>
        <span role="status">{said}</span>
      </div>
    </div>
  );
}

