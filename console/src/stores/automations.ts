// The Automations page's state: the tenant's schedules with their last runs, kept current while
// the page is open (a run that starts, moves or ends reads them again), and the verbs that
// manage them, each answering what came of it.
import { batch, computed, effect, signal, untracked } from "@preact/signals";
import type { ResultOf, VariablesOf } from "../graphql";
import {
  AutomationsQuery,
  CreateSchedule,
  DeleteSchedule,
  RunScheduleNow,
  RunsMoved,
  SetScheduleEnabled,
  UpdateSchedule,
  type ScheduleFields,
} from "../screens/automations/documents";
import { ApiError, request, subscribe } from "../services/connection";
import { fieldMessage, refusal } from "./actions";
import type { LoadState } from "./jobs";
import { route } from "./route";
import { seesSystemJobs, sessionState } from "./session";

/** Runs move many times a second while they run; the schedules are read again at most this often. */
const FOLLOW_EVERY_MS = 2000;

export type Schedule = ResultOf<typeof ScheduleFields>;
export type ScheduleJobType = ResultOf<typeof AutomationsQuery>["jobTypes"][number];
type UpdateInput = VariablesOf<typeof UpdateSchedule>["input"];

export const schedules = signal<Schedule[]>([]);
export const scheduleTypes = signal<ScheduleJobType[]>([]);
export const automationsState = signal<LoadState>("loading");
export const automationsError = signal<string | null>(null);

const onAutomations = computed(() => route.value.path === "/automations");

let generation = 0;

/** The header's Refresh, and what every change and followed run ends with. */
export async function refreshAutomations(): Promise<void> {
  const current = ++generation;
  if (schedules.value.length === 0) automationsState.value = "loading";
  try {
    const data = await request(AutomationsQuery, {});
    if (current !== generation) return;
    batch(() => {
      schedules.value = data.schedules;
      scheduleTypes.value = data.jobTypes;
      automationsError.value = null;
      automationsState.value = "ready";
    });
  } catch (error) {
    if (current !== generation) return;
    automationsError.value = error instanceof ApiError ? error.message : String(error);
    automationsState.value = "error";
  }
}

/** A schedule as a mutation answered it: replaced in place, or added in name order. */
function accept(schedule: Schedule): void {
  const others = schedules.value.filter((shown) => shown.id !== schedule.id);
  schedules.value = [...others, schedule].sort((a, b) => a.name.localeCompare(b.name));
}

// ------------------------------------------------------------------ the form

/** What the form holds; params already parsed from its JSON text. */
export type Draft = { name: string; type: string; cron: string; timezone: string; params: unknown };

/** The saved schedule, or the refusal: `field` names the form field it is about, when one is. */
export type SaveOutcome = { saved: Schedule } | { field: keyof Draft | null; error: string };

type Answer = ResultOf<typeof CreateSchedule>["result"];

/** Creates a schedule (no `original`) or changes the fields of `original` that the draft changed. */
export async function saveSchedule(draft: Draft, original: Schedule | null): Promise<SaveOutcome> {
  let result: Answer;
  try {
    if (original) {
      const input = changes(draft, original);
      if (Object.keys(input).length === 0) return { saved: original };
      result = (await request(UpdateSchedule, { id: original.id, input })).result;
    } else {
      result = (await request(CreateSchedule, { input: draft })).result;
    }
  } catch (error) {
    return { field: null, error: error instanceof ApiError ? refusal(error.code, error.message) : String(error) };
  }
  if (result.__typename === "ScheduleOperationSuccess" && "schedule" in result) {
    accept(result.schedule);
    return { saved: result.schedule };
  }
  if (!("code" in result)) return { field: null, error: "The server refused." };
  if (result.__typename === "UnknownJobTypeError") return { field: "type", error: result.message };
  if ("field" in result) {
    const field = formField(result.field);
    return field ? { field, error: fieldMessage(result.field, result.message) } : { field: null, error: result.message };
  }
  return { field: null, error: refusal(result.code, result.message) };
}

function changes(draft: Draft, original: Schedule): UpdateInput {
  const input: UpdateInput = {};
  if (draft.name !== original.name) input.name = draft.name;
  if (draft.type !== original.type) input.type = draft.type;
  if (draft.cron !== original.cron) input.cron = draft.cron;
  if (draft.timezone !== original.timezone) input.timezone = draft.timezone;
  if (JSON.stringify(draft.params) !== JSON.stringify(original.params)) input.params = draft.params;
  return input;
}

/** The form field an InvalidInputError's field belongs to: `params.records` is the params'. */
function formField(field: string): keyof Draft | null {
  const top = field.split(".")[0];
  return top === "name" || top === "type" || top === "cron" || top === "timezone" || top === "params" ? top : null;
}

// ------------------------------------------------------------------ the list's actions

/** Null when done, else the refusal in words. */
export async function setScheduleEnabled(id: string, enabled: boolean): Promise<string | null> {
  try {
    const { result } = await request(SetScheduleEnabled, { id, enabled });
    if (result.__typename === "ScheduleOperationSuccess" && "schedule" in result) {
      accept(result.schedule);
      return null;
    }
    return "code" in result ? refusal(result.code, result.message) : "The server refused.";
  } catch (error) {
    return error instanceof ApiError ? refusal(error.code, error.message) : String(error);
  }
}

export async function deleteSchedule(id: string): Promise<string | null> {
  try {
    const { result } = await request(DeleteSchedule, { id });
    if (result.__typename === "ScheduleDeleted") {
      schedules.value = schedules.value.filter((shown) => shown.id !== id);
      return null;
    }
    return "code" in result ? refusal(result.code, result.message) : "The server refused.";
  } catch (error) {
    return error instanceof ApiError ? refusal(error.code, error.message) : String(error);
  }
}

/** The started job's id, or the refusal. */
export async function runScheduleNow(id: string): Promise<{ started: string } | { error: string }> {
  try {
    const { result } = await request(RunScheduleNow, { id });
    if (result.__typename === "JobStarted" && "job" in result) {
      void refreshAutomations();
      return { started: result.job.id };
    }
    return { error: "code" in result ? refusal(result.code, result.message) : "The server refused." };
  } catch (error) {
    return { error: error instanceof ApiError ? refusal(error.code, error.message) : String(error) };
  }
}

// ------------------------------------------------------------------ following the runs

/** Whether a job event may change what the page shows: one of its runs, or a new run. */
function concerns(job: { id: string; name: string }): boolean {
  return schedules.value.some(
    (schedule) => schedule.name === job.name || schedule.lastRuns.some((run) => run.job.id === job.id),
  );
}

// Signed out, the schedules are forgotten: the next sign-in may be another tenant's.
effect(() => {
  if (sessionState.value === "signed-in") return;
  generation += 1;
  batch(() => {
    schedules.value = [];
    scheduleTypes.value = [];
    automationsState.value = "loading";
  });
});

effect(() => {
  if (sessionState.value !== "signed-in" || !onAutomations.value) return;
  const includeSystem = seesSystemJobs.value;
  return untracked(() => {
    void refreshAutomations();
    let timer: number | undefined;
    const follow = () => {
      if (timer !== undefined) return;
      timer = window.setTimeout(() => {
        timer = undefined;
        void refreshAutomations();
      }, FOLLOW_EVERY_MS);
    };
    const unsubscribe = subscribe(RunsMoved, () => ({ filter: { includeSystem } }), {
      next: ({ jobsChanged }) => {
        if (jobsChanged.kind !== "PROGRESS" && concerns(jobsChanged.job)) follow();
      },
      resumed: follow,
    });
    return () => {
      window.clearTimeout(timer);
      unsubscribe();
    };
  });
});
