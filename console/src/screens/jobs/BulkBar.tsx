// Bulk actions over the runs ticked (or all the filter matches): the bar offering what the
// role may do, the question with the API's count of jobs it may change, then the operation's
// progress and the jobs it could not change, until dismissed.
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { Link } from "../../components/Link";
import { ProgressBar } from "../../components/ProgressBar";
import {
  ask,
  cancel,
  canceling,
  dismiss,
  dropQuestion,
  hasEnded,
  operation,
  operationError,
  question,
  selectionInWords,
  start,
  type BulkOperation,
} from "../../stores/bulk";
import { runs, runsTotal } from "../../stores/jobs";
import { allMatching, clear, selectAllMatching, selectionCount } from "../../stores/selection";
import { ACTIONS, BULK_ACTIONS, type BulkAction } from "../../utilities/actions";
import { formatCount } from "../../utilities/format";

function bulkOf(action: BulkAction) {
  return BULK_ACTIONS.find((bulk) => bulk.action === action)!;
}

function labelOf(action: BulkAction): string {
  return ACTIONS[bulkOf(action).jobAction].label;
}

function jobs(count: number): string {
  return `${formatCount(count)} job${count === 1 ? "" : "s"}`;
}

export function BulkBar({ offered }: { offered: typeof BULK_ACTIONS }) {
  const count = selectionCount.value;
  const total = runsTotal.value;
  return (
    <>
      {count > 0 && (
        <div class="bulk-bar" role="toolbar" aria-label="Bulk actions">
          <span class="bulk-chosen" role="status">
            {selectionInWords.value}
          </span>
          {!allMatching.value && total !== null && total > count && (
            <button type="button" class="link-button" onClick={selectAllMatching}>
              Select all {formatCount(total)} matching this filter
            </button>
          )}
          <button type="button" class="link-button" onClick={clear}>
            Clear selection
          </button>
          <span class="bulk-actions">
            {offered.map((bulk) => (
              <button
                type="button"
                key={bulk.action}
                class={bulk.action === "CANCEL" ? "danger-outline" : undefined}
                onClick={() => void ask(bulk.action)}
              >
                {ACTIONS[bulk.jobAction].label}
              </button>
            ))}
          </span>
        </div>
      )}
      {operationError.value && (
        <p class="notice notice-danger" role="alert">
          {operationError.value}
        </p>
      )}
      {question.value && <BulkQuestion />}
      {operation.value && <BulkProgress operation={operation.value} />}
    </>
  );
}

function BulkQuestion() {
  const asked = question.value!;
  const { preview, error } = asked;
  const label = labelOf(asked.action);
  const done = bulkOf(asked.action).done;
  const count = preview ? preview.total : null;
  return (
    <ConfirmDialog
      title={count === null ? `${label}?` : `${label}: ${jobs(count)}?`}
      confirm={count === null ? label : `${label} ${jobs(count)}`}
      keep="Keep them as they are"
      danger={asked.action === "CANCEL" || asked.action === "HIDE"}
      onConfirm={() => void start()}
      onClose={dropQuestion}
    >
      <p class="bulk-question-what">{asked.said}.</p>
      {error ? (
        <p class="notice notice-danger" role="alert">
          {error}
        </p>
      ) : preview ? (
        <p class="bulk-question-eligible" aria-live="polite">
          {preview.eligible === preview.total
            ? `All ${jobs(preview.total)} can be ${done} now.`
            : `${formatCount(preview.eligible)} of ${jobs(preview.total)} can be ${done} now; ` +
              `the other ${formatCount(preview.total - preview.eligible)} will be listed as not changed, and left as they are.`}
        </p>
      ) : (
        <p class="bulk-question-eligible" aria-live="polite">
          Counting the jobs it may change…
        </p>
      )}
      {asked.action === "HIDE" && <p>This only hides the jobs from the lists. It cancels nothing.</p>}
      {asked.action === "CANCEL" && <p>A canceled job cannot be resumed.</p>}
    </ConfirmDialog>
  );
}

const STATUS_WORDS: Record<BulkOperation["status"], string> = {
  PENDING: "Waiting for a worker",
  RUNNING: "Running",
  COMPLETED: "Completed",
  CANCELED: "Canceled",
};

function BulkProgress({ operation: shown }: { operation: BulkOperation }) {
  const ended = hasEnded(shown);
  const errors = shown.errors;
  const names = new Map(runs.value.map((row) => [row.id, row.run.value.name]));
  return (
    <section class="bulk-progress" aria-labelledby="bulk-progress-title">
      <div class="bulk-progress-head">
        <h3 id="bulk-progress-title">
          {labelOf(shown.action)}: {jobs(shown.total)}
        </h3>
        <span class="bulk-progress-status" aria-label="Bulk operation status">
          {STATUS_WORDS[shown.status]}
        </span>
        {ended ? (
          <button type="button" onClick={dismiss}>
            Dismiss
          </button>
        ) : (
          <button type="button" class="danger-outline" aria-busy={canceling.value || undefined} onClick={() => void cancel()}>
            Cancel bulk action
          </button>
        )}
      </div>
      <ProgressBar
        progress={{ total: shown.total, done: shown.done, succeeded: shown.succeeded, failed: shown.failed, skipped: 0, estimated: false }}
        label="Bulk progress"
      />
      <p class="bulk-progress-counts" aria-label="Bulk counts">
        {formatCount(shown.done)} / {formatCount(shown.total)} done · {formatCount(shown.succeeded)} succeeded ·{" "}
        {formatCount(shown.failed)} not changed
        {shown.status === "CANCELED" && ` · ${formatCount(shown.total - shown.done)} left as they were`}
      </p>
      {errors.totalCount > 0 && (
        <div class="bulk-errors">
          <h4 id="bulk-errors-title">Not changed</h4>
          <ul aria-labelledby="bulk-errors-title">
            {errors.edges.map(({ node }) => (
              <li key={node.jobId}>
                {node.job ? (
                  <Link href={`/jobs/${node.job.id}`}>{node.job.name}</Link>
                ) : (
                  <span>{names.get(node.jobId) ?? "A job you cannot see"}</span>
                )}{" "}
                <code>{node.code}</code> <span class="bulk-error-message">{node.message}</span>
              </li>
            ))}
          </ul>
          {errors.totalCount > errors.edges.length && (
            <p class="count">and {formatCount(errors.totalCount - errors.edges.length)} more</p>
          )}
        </div>
      )}
    </section>
  );
}
