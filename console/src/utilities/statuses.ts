// The server's statuses as the console shows them: one label, tone (colour) and icon each.
// Mirrors the server's state machine; gql.tada fails the build when a status is added there.
import { graphql } from "../graphql";

export type JobStatus = ReturnType<typeof graphql.scalar<"JobStatus">>;
export type JobOutcome = ReturnType<typeof graphql.scalar<"JobOutcome">>;
export type RecordStatus = ReturnType<typeof graphql.scalar<"RecordStatus">>;

export type Tone = "neutral" | "active" | "waiting" | "success" | "warning" | "danger" | "muted";
export type Look = { label: string; tone: Tone; icon: string };

export const JOB_STATUSES: Record<JobStatus, Look> = {
  PENDING: { label: "Pending", tone: "neutral", icon: "○" },
  RUNNING: { label: "Running", tone: "active", icon: "▶" },
  WAITING: { label: "Waiting", tone: "waiting", icon: "⏸" },
  STOPPING: { label: "Stopping", tone: "warning", icon: "◼" },
  STOPPED: { label: "Stopped", tone: "muted", icon: "◼" },
  CANCELING: { label: "Canceling", tone: "warning", icon: "⊘" },
  CANCELED: { label: "Canceled", tone: "muted", icon: "⊘" },
  FINISHED: { label: "Finished", tone: "success", icon: "✓" },
  FAILED: { label: "Failed", tone: "danger", icon: "✕" },
};

export const JOB_OUTCOMES: Record<JobOutcome, Look> = {
  SUCCEEDED: { label: "Succeeded", tone: "success", icon: "✓" },
  WITH_ERRORS: { label: "With errors", tone: "danger", icon: "!" },
  INCOMPLETE: { label: "Incomplete", tone: "warning", icon: "◐" },
};

export const RECORD_STATUSES: Record<RecordStatus, Look> = {
  PENDING: { label: "Pending", tone: "neutral", icon: "○" },
  RUNNING: { label: "Running", tone: "active", icon: "▶" },
  WAITING: { label: "Waiting", tone: "waiting", icon: "⏸" },
  SUCCEEDED: { label: "Succeeded", tone: "success", icon: "✓" },
  FAILED: { label: "Failed", tone: "danger", icon: "✕" },
  SKIPPED: { label: "Skipped", tone: "muted", icon: "↷" },
  INTERRUPTED: { label: "Interrupted", tone: "warning", icon: "↯" },
  CANCELED: { label: "Canceled", tone: "muted", icon: "⊘" },
};

/** Statuses in which a job has not started yet: its waiting time grows. */
export const NOT_STARTED: ReadonlySet<JobStatus> = new Set(["PENDING"]);

/** Statuses in which a started job still runs: its duration grows. */
export const RUNNING_NOW: ReadonlySet<JobStatus> = new Set(["RUNNING", "WAITING", "STOPPING", "CANCELING"]);
