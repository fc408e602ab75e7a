// Records as rows: key (a link to the record's journey), status, outcome, attempts, duration, error.
// Only the rows in view, and a few either side, are in the DOM, so a run of a million records
// scrolls like one of ten; nearing the last loaded row asks for the next page.
import { useEffect, useRef } from "preact/hooks";
import type { RunRecord } from "../stores/jobs";
import { formatDuration } from "../utilities/format";
import { RECORD_STATUSES } from "../utilities/statuses";
import { useVirtualizer } from "../utilities/virtual";
import { Link } from "./Link";
import { StatusLabel } from "./StatusLabel";

/** A one-line row's height in px; rows with a wrapped error are measured once drawn. */
const ROW_ESTIMATE = 29;
const OVERSCAN = 12;
/** The next page is asked for when the drawn rows come this close to the last loaded one. */
const LOAD_AHEAD = 60;
const COLUMNS = 6;

type Props = {
  records: RunRecord[];
  labelledBy: string;
  busy: boolean;
  /** Whether the server holds records after the loaded ones. */
  more: boolean;
  loadMore: () => void;
};

export function RecordTable({ records, labelledBy, busy, more, loadMore }: Props) {
  const scroller = useRef<HTMLDivElement>(null);
  const rows = useVirtualizer<RunRecord, HTMLTableRowElement>(scroller, {
    items: records,
    key: (record) => record.id,
    estimate: ROW_ESTIMATE,
    overscan: OVERSCAN,
  });
  const drawn = rows.getVirtualItems();
  const last = drawn[drawn.length - 1];

  useEffect(() => {
    if (more && !busy && last && last.index >= records.length - LOAD_AHEAD) loadMore();
  }, [more, busy, last?.index, records.length]);

  const before = drawn[0]?.start ?? 0;
  const after = last ? rows.getTotalSize() - last.end : 0;
  return (
    // Focusable, so the keyboard scrolls it too.
    <div class="table-scroll" ref={scroller} tabIndex={0}>
      <table
        class="record-table"
        aria-labelledby={labelledBy}
        aria-busy={busy}
        // The header row counts as row 1; while pages remain the total is unknown (-1).
        aria-rowcount={more ? -1 : records.length + 1}
      >
        <thead>
          <tr aria-rowindex={1}>
            <th scope="col">Key</th>
            <th scope="col">Status</th>
            <th scope="col">Outcome</th>
            <th scope="col">Attempts</th>
            <th scope="col">Duration</th>
            <th scope="col">Error</th>
          </tr>
        </thead>
        <tbody data-rows>
          {before > 0 && <Spacer height={before} />}
          {drawn.map((item) => {
            const record = records[item.index]!;
            return (
              <tr
                key={record.id}
                data-index={item.index}
                data-row-id={record.id}
                tabIndex={-1}
                aria-rowindex={item.index + 2}
                ref={rows.measureElement}
              >
                <td class="record-key">
                  <Link href={`/records/${record.id}`}>{record.key}</Link>
                </td>
                <td>
                  <StatusLabel look={RECORD_STATUSES[record.status]} />
                </td>
                <td>{record.outcome ? RECORD_STATUSES[record.outcome].label : "—"}</td>
                <td class="number">{record.attempts}</td>
                <td class="number">{formatDuration(record.durationSeconds)}</td>
                <td class="record-error">{record.error ?? ""}</td>
              </tr>
            );
          })}
          {after > 0 && <Spacer height={after} />}
        </tbody>
      </table>
    </div>
  );
}

/** The height of the rows not drawn, so the scroll bar tells where the reader is. */
function Spacer({ height }: { height: number }) {
  return (
    <tr class="record-spacer" aria-hidden="true" style={{ height: `${height}px` }}>
      <td colSpan={COLUMNS} />
    </tr>
  );
}

