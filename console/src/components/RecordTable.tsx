// Records as rows: key (a link to the record's journey), status, outcome, attempts, duration, error.
import type { RunRecord } from "../stores/jobs";
import { formatDuration } from "../utilities/format";
import { RECORD_STATUSES } from "../utilities/statuses";
import { Link } from "./Link";
import { StatusLabel } from "./StatusLabel";

export function RecordTable({ records, labelledBy, busy }: { records: RunRecord[]; labelledBy: string; busy: boolean }) {
  return (
    <div class="table-scroll">
      <table class="record-table" aria-labelledby={labelledBy} aria-busy={busy}>
        <thead>
          <tr>
            <th scope="col">Key</th>
            <th scope="col">Status</th>
            <th scope="col">Outcome</th>
            <th scope="col">Attempts</th>
            <th scope="col">Duration</th>
            <th scope="col">Error</th>
          </tr>
        </thead>
        <tbody>
          {records.map((record) => (
            <tr key={record.id}>
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
          ))}
        </tbody>
      </table>
    </div>
  );
}
