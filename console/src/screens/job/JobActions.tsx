// The lifecycle actions of one job: each enabled by the one table (role, state, job type), a
// disabled one saying why, the dangerous ones asked first, a refusal shown in words.
import { useState } from "preact/hooks";
import { ActionButton } from "../../components/ActionButton";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { perform } from "../../stores/actions";
import { accept, type JobDetail } from "../../stores/job";
import { navigate, withParams } from "../../stores/route";
import { viewer } from "../../stores/session";
import { ACTIONS, availability, type JobAction } from "../../utilities/actions";
import { WAITING_REASONS } from "../../utilities/statuses";

type Question = { title: string; confirm: string; keep: string; body: string };

/** The question before an action that cannot be taken back; other screens ask it too. */
export const QUESTIONS: Partial<Record<JobAction, Question>> = {
  cancel: {
    title: "Cancel this job?",
    confirm: "Cancel the job",
    keep: "Keep it",
    body: "Records that have not run become Canceled. A canceled job cannot be resumed.",
  },
  forceStop: {
    title: "Force stop this job?",
    confirm: "Force stop",
    keep: "Let it drain",
    body: "Records in flight are interrupted at once: data they were writing may be inconsistent.",
  },
  hide: {
    title: "Delete this entry?",
    confirm: "Delete entry",
    keep: "Keep it listed",
    body: "This only hides the job from the lists. It cancels nothing: the job keeps running if it runs.",
  },
};

export const SAID: Partial<Record<JobAction, string>> = {
  hide: "The entry is hidden from the lists. Nothing was canceled.",
};

/** The bar's buttons in order; the priority slot sets or removes it, whichever applies. */
const BAR = ["stop", "resume", "forceStop", "cancel", "restart", "retryFailed", "priority", "hide"] as const;

function actionOf(slot: (typeof BAR)[number], job: JobDetail): JobAction {
  if (slot !== "priority") return slot;
  return job.lowPriority ? "removeLowPriority" : "setLowPriority";
}

export function JobActions({ job }: { job: JobDetail }) {
  const [asking, setAsking] = useState<JobAction | null>(null);
  const [busy, setBusy] = useState<JobAction | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [said, setSaid] = useState<string | null>(null);
  const role = viewer.value?.role;

  async function run(action: JobAction) {
    setBusy(action);
    setError(null);
    setSaid(null);
    const outcome = await perform(action, job.id);
    setBusy(null);
    if ("error" in outcome) setError(outcome.error);
    else if ("started" in outcome) navigate(`/jobs/${outcome.started}`, {});
    else {
      accept(outcome.job);
      setSaid(SAID[action] ?? null);
    }
  }

  function press(action: JobAction) {
    if (!availability(action, job, role).enabled || busy) return;
    if (QUESTIONS[action]) setAsking(action);
    else void run(action);
  }

  const question = asking ? QUESTIONS[asking] : undefined;
  const reason = job.waitingReason ? WAITING_REASONS[job.waitingReason] : null;
  const remedy = reason?.remedy;
  return (
    <section class="job-actions" aria-label="Lifecycle">
      {reason && (
        <p class="waiting-reason" aria-label="Waiting reason">
          <span>{reason.sentence}</span>
          {remedy && " — "}
          {remedy === "openWaiting" && (
            <button
              type="button"
              class="link-button"
              onClick={() => navigate(`/jobs/${job.id}`, withParams({ records: "WAITING", chunk: null }))}
            >
              Open the waiting records
            </button>
          )}
          {remedy && remedy !== "openWaiting" && (
            <button
              type="button"
              class="link-button"
              aria-disabled={availability(remedy, job, role).enabled ? undefined : "true"}
              title={reasonText(remedy, job, role)}
              onClick={() => press(remedy)}
            >
              {ACTIONS[remedy].label}
            </button>
          )}
        </p>
      )}
      <div class="action-bar" role="toolbar" aria-label="Actions">
        {BAR.map((slot) => {
          const action = actionOf(slot, job);
          return (
            <ActionButton
              key={action}
              id={action}
              availability={availability(action, job, role)}
              busy={busy === action}
              class={action === "forceStop" || action === "cancel" ? "danger-outline" : undefined}
              onPress={() => press(action)}
            >
              {ACTIONS[action].label}
            </ActionButton>
          );
        })}
      </div>
      {job.status === "STOPPING" && (
        <p class="notice notice-warning">
          Stopping: the records in flight finish first. Force stop interrupts them at once, and the data they were
          writing may be inconsistent.
        </p>
      )}
      {error && (
        <p class="notice notice-danger" role="alert">
          {error}
        </p>
      )}
      <p class="action-said" role="status">
        {said}
      </p>
      {asking && question && (
        <ConfirmDialog
          title={question.title}
          confirm={question.confirm}
          keep={question.keep}
          danger
          onConfirm={() => void run(asking)}
          onClose={() => setAsking(null)}
        >
          <p>{question.body}</p>
        </ConfirmDialog>
      )}
    </section>
  );
}

function reasonText(action: JobAction, job: JobDetail, role: Parameters<typeof availability>[2]): string | undefined {
  const state = availability(action, job, role);
  return state.enabled ? undefined : state.reason;
}
