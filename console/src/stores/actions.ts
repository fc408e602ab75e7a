// Runs a lifecycle action through its mutation and says what came of it: the job as it is
// now, the job it started (restart, retry), or the API's refusal in words.
import {
  CancelJob,
  ForceStopJob,
  HideJob,
  RestartJob,
  ResumeJob,
  RetryFailedRecords,
  SetJobLowPriority,
  StopJob,
  UnhideJob,
} from "../screens/job/documents";
import { ApiError, request } from "../services/connection";
import type { JobAction } from "../utilities/actions";
import type { JobDetail } from "./job";

export type ActionOutcome = { job: JobDetail } | { started: string } | { error: string };

/** How a refusal's code reads before the server's message. */
const REFUSALS: Record<string, string> = {
  FORBIDDEN: "Not allowed",
  INVALID_TRANSITION: "Not possible now",
  NOT_STOPPABLE: "This job type cannot stop",
  NOT_RESTARTABLE: "This job type cannot run again",
  NOT_FOUND: "Not found",
  INVALID_INPUT: "Refused",
  PLAN_LIMIT: "Over the plan's limit",
};

export function refusal(code: string, message: string): string {
  return `${REFUSALS[code] ?? "Refused"}: ${message}`;
}

/** An InvalidInputError's message as its field shows it: the message names the field first,
 * which beside that very field it need not (`params.records` keeps its sub-field). */
export function fieldMessage(field: string, message: string): string {
  return !field.includes(".") && message.startsWith(`${field}: `) ? message.slice(field.length + 2) : message;
}

type Answer = { __typename: string; job?: { id: string } | JobDetail; code?: string; message?: string };

async function answer(action: JobAction, id: string): Promise<Answer> {
  switch (action) {
    case "stop":
      return (await request(StopJob, { id })).result;
    case "forceStop":
      return (await request(ForceStopJob, { id })).result;
    case "resume":
      return (await request(ResumeJob, { id })).result;
    case "cancel":
      return (await request(CancelJob, { id })).result;
    case "hide":
      return (await request(HideJob, { id })).result;
    case "unhide":
      return (await request(UnhideJob, { id })).result;
    case "setLowPriority":
      return (await request(SetJobLowPriority, { id, lowPriority: true })).result;
    case "removeLowPriority":
      return (await request(SetJobLowPriority, { id, lowPriority: false })).result;
    case "restart":
      return (await request(RestartJob, { id })).result;
    case "retryFailed":
      return (await request(RetryFailedRecords, { id })).result;
  }
}

export async function perform(action: JobAction, id: string): Promise<ActionOutcome> {
  let result: Answer;
  try {
    result = await answer(action, id);
  } catch (error) {
    return { error: error instanceof ApiError ? refusal(error.code, error.message) : String(error) };
  }
  if (result.__typename === "JobStarted" && result.job) return { started: result.job.id };
  if (result.__typename === "JobOperationSuccess" && result.job) return { job: result.job as JobDetail };
  return { error: refusal(result.code ?? "ERROR", result.message ?? "The server refused.") };
}
