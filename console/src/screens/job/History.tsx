// What happened to the job, oldest first: from → to, the operation, who, when.
import { StatusLabel } from "../../components/StatusLabel";
import { history, loadMoreHistory, moreHistory, type HistoryEvent } from "../../stores/job";
import { formatMoment } from "../../utilities/format";
import { JOB_STATUSES } from "../../utilities/statuses";

const OPERATIONS: Record<NonNullable<HistoryEvent["operation"]>, string> = {
  STOP: "Stop",
  FORCE_STOP: "Force stop",
  RESUME: "Resume",
  CANCEL: "Cancel",
  RESTART: "Restart",
  RETRY_FAILED: "Retry failed records",
  CHUNK_STARTED: "First chunk started",
  ALL_WAITING: "Every open record waits",
  WAIT_COMPLETED: "An answer came in",
  WORK_DONE: "Work done",
  DRAINED: "In-flight records done",
  RUN_FAILED: "The run failed",
};

function what(event: HistoryEvent): string {
  if (event.kind === "CREATED") return "Created";
  if (event.operation) return OPERATIONS[event.operation];
  if (event.changes.length) return event.changes.map((change) => `${change.field} → ${JSON.stringify(change.value)}`).join(", ");
  return event.kind;
}

export function History() {
  const events = history.value;
  return (
    <section class="card" aria-labelledby="history-title">
      <div class="card-head">
        <h2 id="history-title">History</h2>
      </div>
      <div class="table-scroll">
        <table class="history-table" aria-labelledby="history-title">
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Status</th>
              <th scope="col">What</th>
              <th scope="col">Who</th>
            </tr>
          </thead>
          <tbody>
            {events.map((event) => (
              <tr key={event.seq}>
                <td class="number">{formatMoment(event.at)}</td>
                <td>
                  {event.fromStatus && event.fromStatus !== event.toStatus && (
                    <>
                      <StatusLabel look={JOB_STATUSES[event.fromStatus]} />
                      <span class="arrow" aria-label="to">
                        {" → "}
                      </span>
                    </>
                  )}
                  <StatusLabel look={JOB_STATUSES[event.toStatus]} />
                </td>
                <td>{what(event)}</td>
                <td>
                  {event.actor.name} <span class="actor-kind">{event.actor.kind.toLowerCase()}</span>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {moreHistory.value && (
        <button type="button" class="quiet more" onClick={() => void loadMoreHistory()}>
          Show more history
        </button>
      )}
    </section>
  );
}
