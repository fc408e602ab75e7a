// The selected run's records, a page at a time (keyset cursors) as the reader scrolls, filtered by status.
import { Link } from "../../components/Link";
import { RecordTable } from "../../components/RecordTable";
import {
  loadMoreRecords,
  moreRecords,
  recordStatus,
  records,
  recordsError,
  recordsState,
  runs,
  selectedId,
} from "../../stores/jobs";
import { navigate, route, withParams } from "../../stores/route";
import { RECORD_STATUSES, type RecordStatus } from "../../utilities/statuses";

export function RecordsPane() {
  const id = selectedId.value;
  if (!id) {
    return (
      <section class="records records-empty" aria-label="Records">
        <p class="empty">Select a run to see its records.</p>
      </section>
    );
  }
  const name = runs.value.find((row) => row.id === id)?.run.value.name ?? "the selected run";
  const back = new URLSearchParams(route.value.params);
  back.delete("run");
  back.delete("records");
  const state = recordsState.value;
  return (
    <section class="records" aria-labelledby="records-title">
      <div class="pane-head">
        <Link href={`${route.value.path}${back.size ? `?${back}` : ""}`} class="back" shortcut="Escape">
          ← Runs
        </Link>
        <h2 id="records-title">Records of {name}</h2>
        <label class="filter filter-inline">
          <span>Record status</span>
          <select
            onChange={(event) => navigate(route.value.path, withParams({ records: event.currentTarget.value || null }))}
          >
            <option value="" selected={!recordStatus.value}>
              Any
            </option>
            {(Object.keys(RECORD_STATUSES) as RecordStatus[]).map((status) => (
              <option value={status} selected={recordStatus.value === status}>
                {RECORD_STATUSES[status].label}
              </option>
            ))}
          </select>
        </label>
      </div>
      {state === "error" ? (
        <p class="notice notice-danger" role="alert">
          {recordsError.value}
        </p>
      ) : (
        <RecordTable
          records={records.value}
          labelledBy="records-title"
          busy={state === "loading"}
          more={moreRecords.value !== null}
          loadMore={() => void loadMoreRecords()}
        />
      )}
      {state === "loading" && records.value.length === 0 && <p class="empty">Loading records…</p>}
      {state === "ready" && records.value.length === 0 && <p class="empty">No records yet.</p>}
    </section>
  );
}
