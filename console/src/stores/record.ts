// The record journey's state: the record the path names, followed while its job moves, and
// the answer a waiting record's step expects.
import { batch, computed, effect, signal, untracked } from "@preact/signals";
import type { ResultOf } from "../graphql";
import {
  CompleteWait,
  RecordJobUpdated,
  RecordQuery,
  WaitAnswersQuery,
  type JourneyFields,
} from "../screens/record/documents";
import { ApiError, request, subscribe } from "../services/connection";
import { refusal } from "./actions";
import type { LoadState } from "./jobs";
import { pathId } from "./route";
import { sessionState } from "./session";

/** Events come many a second while a job runs; the record is read again at most this often. */
const FOLLOW_EVERY_MS = 1000;

export type JourneyRecord = ResultOf<typeof JourneyFields>;
type JobTypeAnswers = ResultOf<typeof WaitAnswersQuery>["jobTypes"][number];

export const recordId = computed(() => pathId("records"));
export const record = signal<JourneyRecord | null>(null);
export const recordState = signal<LoadState | "missing">("loading");
export const recordError = signal<string | null>(null);
const jobTypes = signal<JobTypeAnswers[]>([]);

let generation = 0;

async function loadRecord(id: string, current: number): Promise<JourneyRecord | null> {
  try {
    const { node } = await request(RecordQuery, { id });
    if (current !== generation) return null;
    if (!node || node.__typename !== "Record" || !("journey" in node)) {
      recordState.value = "missing";
      return null;
    }
    batch(() => {
      record.value = node;
      recordState.value = "ready";
    });
    return node;
  } catch (error) {
    if (current !== generation) return null;
    if (error instanceof ApiError && error.code === "NOT_FOUND") recordState.value = "missing";
    else {
      recordError.value = error instanceof ApiError ? error.message : String(error);
      recordState.value = "error";
    }
    return null;
  }
}

/** The JSON Schema the record's waiting step expects, or null when it takes any answer. */
export const waitSchema = computed<Record<string, unknown> | null>(() => {
  const shown = record.value;
  const step = shown?.journey.find((candidate) => candidate.status === "WAITING")?.name;
  const type = jobTypes.value.find((candidate) => candidate.name === shown?.job?.type);
  const schema = type?.steps.find((candidate) => candidate.name === step)?.answerSchema;
  return schema && typeof schema === "object" ? (schema as Record<string, unknown>) : null;
});

/**
 * The answer Approve or Reject sends. A wait's answer is a decision and who took it: each
 * boolean the schema asks for carries the decision, each string the signed-in viewer's name.
 */
export function answerFor(schema: Record<string, unknown> | null, approved: boolean, name: string): Record<string, unknown> {
  const properties = (schema?.properties ?? { approved: { type: "boolean" }, by: { type: "string" } }) as Record<
    string,
    { type?: string }
  >;
  const answer: Record<string, unknown> = {};
  for (const [field, property] of Object.entries(properties)) {
    if (property.type === "boolean") answer[field] = approved;
    else if (property.type === "string") answer[field] = name;
  }
  return answer;
}

/** Sends the answer; the refusal in words, or null when the record continues. */
export async function completeWait(payload: Record<string, unknown>): Promise<string | null> {
  const shown = record.value;
  if (!shown) return null;
  try {
    const { result } = await request(CompleteWait, { id: shown.id, payload });
    if (result.__typename === "RecordOperationSuccess" && "record" in result) {
      record.value = result.record;
      return null;
    }
    return "code" in result ? refusal(result.code, result.message) : "The server refused.";
  } catch (error) {
    return error instanceof ApiError ? refusal(error.code, error.message) : String(error);
  }
}

effect(() => {
  const id = recordId.value;
  if (sessionState.value !== "signed-in" || !id) return;
  return untracked(() => {
    const current = ++generation;
    if (record.value?.id !== id) record.value = null;
    recordState.value = record.value ? "ready" : "loading";
    if (jobTypes.value.length === 0) {
      void request(WaitAnswersQuery, {})
        .then((data) => (jobTypes.value = data.jobTypes))
        .catch(() => {});
    }
    let unsubscribe: (() => void) | null = null;
    let stopped = false;
    let timer: number | undefined;
    const follow = () => {
      if (timer !== undefined) return;
      timer = window.setTimeout(() => {
        timer = undefined;
        void loadRecord(id, current);
      }, FOLLOW_EVERY_MS);
    };
    void loadRecord(id, current).then((loaded) => {
      const jobOf = loaded?.job;
      if (!jobOf || stopped) return;
      let lastSeq = jobOf.seq;
      unsubscribe = subscribe(RecordJobUpdated, () => ({ id: jobOf.id, afterSeq: lastSeq }), {
        next: (data) => {
          lastSeq = Math.max(lastSeq, data.jobUpdated.seq);
          follow();
        },
        resumed: follow,
      });
    });
    return () => {
      stopped = true;
      window.clearTimeout(timer);
      unsubscribe?.();
    };
  });
});
