// A bulk action from the Jobs page: the question before it (how many jobs, how many of them the
// action may change now, as the API counts them), then the operation as it runs, live from
// bulkOperationUpdated, until the reader dismisses it.
import { batch, computed, signal } from "@preact/signals";
import { type ResultOf, type VariablesOf } from "../graphql";
import {
  BulkOperationFields,
  BulkOperationQuery,
  BulkOperationUpdated,
  BulkPreviewQuery,
  CancelBulkOperation,
  StartBulkOperation,
} from "../screens/jobs/documents";
import { ApiError, request, subscribe } from "../services/connection";
import type { BulkAction } from "../utilities/actions";
import { formatCount } from "../utilities/format";
import { JOB_STATUSES, type JobStatus } from "../utilities/statuses";
import { refusal } from "./actions";
import { filter, runners } from "./jobs";
import { route } from "./route";
import { allMatching, clear, selectedIds, selectionCount } from "./selection";
import { myPrincipalId } from "./session";

export type BulkOperation = ResultOf<typeof BulkOperationFields>;
type BulkInput = VariablesOf<typeof StartBulkOperation>["input"];

const ENDED: readonly BulkOperation["status"][] = ["COMPLETED", "CANCELED"];

export function hasEnded(operation: BulkOperation): boolean {
  return ENDED.includes(operation.status);
}

/** The Jobs page's filter in words, as the URL states it; null when it matches every job. */
export const filterInWords = computed<string | null>(() => {
  const params = route.value.params;
  const parts: string[] = [];
  const search = params.get("q");
  if (search) parts.push(`matching “${search}”`);
  const status = params.get("status") as JobStatus | null;
  if (status && JOB_STATUSES[status]) parts.push(`status ${JOB_STATUSES[status].label}`);
  const type = params.get("type");
  if (type) parts.push(`type ${type}`);
  const by = params.get("by");
  if (by) parts.push(`run by ${by === myPrincipalId.value ? "me" : (runners.value.get(by) ?? "the chosen principal")}`);
  const from = params.get("from");
  const to = params.get("to");
  if (from && to) parts.push(`created from ${from} to ${to}`);
  else if (from) parts.push(`created from ${from}`);
  else if (to) parts.push(`created up to ${to}`);
  if (params.get("system") === "1") parts.push("system jobs included");
  return parts.length ? parts.join(", ") : null;
});

/** What the selection stands for, in words: the filter, or the jobs ticked. */
export const selectionInWords = computed(() => {
  const count = formatCount(selectionCount.value);
  if (!allMatching.value) return `${count} selected job${selectionCount.value === 1 ? "" : "s"}`;
  return filterInWords.value ? `All ${count} of the jobs ${filterInWords.value}` : `All ${count} jobs`;
});

// ------------------------------------------------------------------ the question

export type Preview = { total: number; eligible: number };
export type Question = { action: BulkAction; input: BulkInput; said: string; preview: Preview | null; error: string | null };

export const question = signal<Question | null>(null);

function chosenInput(action: BulkAction): BulkInput {
  return allMatching.value ? { action, filter: filter.value } : { action, ids: [...selectedIds.value] };
}

/** Asks before acting: the dialog opens at once, and the API's count fills it in. */
export async function ask(action: BulkAction): Promise<void> {
  const input = chosenInput(action);
  const asked: Question = { action, input, said: selectionInWords.value, preview: null, error: null };
  question.value = asked;
  try {
    const { bulkPreview } = await request(BulkPreviewQuery, { input });
    if (question.value === asked) question.value = { ...asked, preview: bulkPreview };
  } catch (error) {
    if (question.value === asked) question.value = { ...asked, error: message(error) };
  }
}

export function dropQuestion(): void {
  question.value = null;
}

// ------------------------------------------------------------------ the operation

export const operation = signal<BulkOperation | null>(null);
export const operationError = signal<string | null>(null);
export const canceling = signal(false);

let stopFollowing: (() => void) | null = null;

function message(error: unknown): string {
  return error instanceof ApiError ? refusal(error.code, error.message) : String(error);
}

/** The operation as the server says it is now. Progress never goes back, and an ended
 * operation stays ended: an update sent before the end may arrive after it. */
function received(update: BulkOperation): void {
  const shown = operation.value;
  if (!shown || shown.id !== update.id) return;
  if (hasEnded(shown) || update.done < shown.done) return;
  operation.value = update;
  if (hasEnded(update)) unfollow();
}

function follow(id: string): void {
  unfollow();
  stopFollowing = subscribe(BulkOperationUpdated, () => ({ id }), {
    next: (data) => received(data.bulkOperationUpdated),
    resumed: () =>
      void request(BulkOperationQuery, { id }).then(
        (data) => data.bulkOperation && received(data.bulkOperation),
        () => {},
      ),
  });
}

function unfollow(): void {
  stopFollowing?.();
  stopFollowing = null;
}

/** Starts the operation the question was about; the selection is spent on it. */
export async function start(): Promise<void> {
  const asked = question.value;
  if (!asked) return;
  question.value = null;
  operationError.value = null;
  try {
    const { result } = await request(StartBulkOperation, { input: asked.input });
    if (result.__typename !== "BulkOperationStarted") {
      operationError.value = refusal(result.code, result.message);
      return;
    }
    batch(() => {
      operation.value = result.bulkOperation;
      clear();
    });
    if (!hasEnded(result.bulkOperation)) follow(result.bulkOperation.id);
  } catch (error) {
    operationError.value = message(error);
  }
}

/** Cancels the running operation: the jobs it has not reached stay as they are. */
export async function cancel(): Promise<void> {
  const shown = operation.value;
  if (!shown || hasEnded(shown) || canceling.value) return;
  canceling.value = true;
  try {
    const { result } = await request(CancelBulkOperation, { id: shown.id });
    if (result.__typename === "BulkOperationCanceled") received(result.bulkOperation);
    // Refused because it ended meanwhile: its last update says how.
    else if (result.__typename !== "InvalidTransitionError") operationError.value = refusal(result.code, result.message);
  } catch (error) {
    operationError.value = message(error);
  } finally {
    canceling.value = false;
  }
}

/** The reader has read the outcome: the panel goes. */
export function dismiss(): void {
  unfollow();
  batch(() => {
    operation.value = null;
    operationError.value = null;
  });
}
