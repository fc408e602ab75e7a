// The records the chunk map selected (a chunk's), or the job's records of one status.
import { Link } from "../../components/Link";
import { RecordTable } from "../../components/RecordTable";
import {
  listedStatus,
  loadMorePanel,
  morePanel,
  panelRecords,
  panelState,
  selectedChunk,
} from "../../stores/job";
import { route } from "../../stores/route";
import { RECORD_STATUSES } from "../../utilities/statuses";

export function RecordsPanel() {
  const chunk = selectedChunk.value;
  const status = listedStatus.value;
  if (chunk === null && !status) return null;
  const title = chunk !== null ? `Records of chunk ${chunk}` : `${RECORD_STATUSES[status!].label} records`;
  const close = new URLSearchParams(route.value.params);
  close.delete("chunk");
  close.delete("records");
  const state = panelState.value;
  return (
    <section class="card" aria-labelledby="panel-title">
      <div class="card-head">
        <h2 id="panel-title">{title}</h2>
        <Link href={`${route.value.path}${close.size ? `?${close}` : ""}`} class="close" shortcut="Escape">
          Close<span class="visually-hidden"> {title}</span>
        </Link>
      </div>
      {state === "error" ? (
        <p class="notice notice-danger" role="alert">
          The records could not be read.
        </p>
      ) : (
        <RecordTable
          records={panelRecords.value}
          labelledBy="panel-title"
          busy={state === "loading"}
          more={morePanel.value !== null}
          loadMore={() => void loadMorePanel()}
        />
      )}
      {state === "ready" && panelRecords.value.length === 0 && <p class="empty">No records here yet.</p>}
    </section>
  );
}
