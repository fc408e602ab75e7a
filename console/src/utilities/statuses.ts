// The server's statuses as the console shows them: one label, tone (colour) and icon each.
// Mirrors the server's state machine; gql.tada fails the build when a status is added there.
import { graphql } from "../graphql";

export type JobStatus = ReturnType<typeof graphql.scalar<"JobStatus">>;
export type JobOutcome = ReturnType<typeof graphql.scalar<"JobOutcome">>;
export type RecordStatus = ReturnType<typeof graphql.scalar<"RecordStatus">>;
export type Role = ReturnType<typeof graphql.scalar<"Role">>;

export type Tone = "neutral" | "active" | "waiting" | "success" | "warning" | "danger" | "muted";
export type Look = { label: string; tone: Tone; icon: string };

export const JOB_STATUSES: Record<JobStatus, Look> = {
  PENDING: { label: "Pending", tone: "neutral", icon: "○" },
  RUNNING: { label: "Running", tone: "active", icon: "▶" },
  WAITING: { label: "Waiting", tone: "waiting", icon: "◷" },
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
  WAITING: { label: "Waiting", tone: "waiting", icon: "◷" },
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

export type ChunkStatus = ReturnType<typeof graphql.scalar<"ChunkStatus">>;
export type WaitingReason = ReturnType<typeof graphql.scalar<"WaitingReason">>;
export type StepStatus = ReturnType<typeof graphql.scalar<"StepStatus">>;
export type LogLevel = ReturnType<typeof graphql.scalar<"LogLevel">>;

export const CHUNK_STATUSES: Record<ChunkStatus, Look> = {
  PENDING: { label: "Pending", tone: "neutral", icon: "○" },
  QUEUED: { label: "Queued", tone: "active", icon: "◌" },
  RUNNING: { label: "Running", tone: "active", icon: "▶" },
  WAITING: { label: "Waiting", tone: "waiting", icon: "◷" },
  COMPLETED: { label: "Completed", tone: "success", icon: "✓" },
  INCOMPLETE: { label: "Incomplete", tone: "warning", icon: "◐" },
  FAILED: { label: "Failed", tone: "danger", icon: "✕" },
  STOPPED: { label: "Stopped", tone: "muted", icon: "◼" },
  CANCELED: { label: "Canceled", tone: "muted", icon: "⊘" },
};

export const STEP_STATUSES: Record<StepStatus, Look> = {
  RUNNING: { label: "Running", tone: "active", icon: "▶" },
  WAITING: { label: "Waiting", tone: "waiting", icon: "◷" },
  SUCCEEDED: { label: "Succeeded", tone: "success", icon: "✓" },
  FAILED: { label: "Failed", tone: "danger", icon: "✕" },
  SKIPPED: { label: "Skipped", tone: "muted", icon: "↷" },
  INTERRUPTED: { label: "Interrupted", tone: "warning", icon: "↯" },
};

export const LOG_LEVELS: Record<LogLevel, Look> = {
  DEBUG: { label: "Debug", tone: "muted", icon: "·" },
  INFO: { label: "Info", tone: "neutral", icon: "i" },
  WARNING: { label: "Warning", tone: "warning", icon: "!" },
  ERROR: { label: "Error", tone: "danger", icon: "✕" },
};

/** Statuses after which a job runs nothing more. */
export const ENDED: ReadonlySet<JobStatus> = new Set(["FINISHED", "FAILED", "CANCELED"]);

/** Why a job that does not run now waits, as a sentence, and what would move it on. */
export const WAITING_REASONS: Record<WaitingReason, { sentence: string; remedy?: "resume" | "removeLowPriority" | "openWaiting" }> = {
  QUEUED: { sentence: "Queued: it starts when a worker slot is free." },
  LOW_PRIORITY: { sentence: "Low priority: runs when workers are free", remedy: "removeLowPriority" },
  FAIR_SHARE: { sentence: "Other jobs are served first: workers share their time fairly between jobs and tenants." },
  EXTERNAL_STEP: { sentence: "Waiting for an answer", remedy: "openWaiting" },
  NO_WORKERS: { sentence: "No worker is online to run it." },
  STOPPED: { sentence: "Stopped", remedy: "resume" },
};

/** A schedule: started on time, or only when an admin runs it now. */
export const SCHEDULE_STATES: Record<"ENABLED" | "DISABLED", Look> = {
  ENABLED: { label: "Enabled", tone: "success", icon: "●" },
  DISABLED: { label: "Disabled", tone: "muted", icon: "○" },
};

/** An API token: accepted, or refused from its revocation on. */
export const TOKEN_STATES: Record<"ACTIVE" | "REVOKED", Look> = {
  ACTIVE: { label: "Active", tone: "success", icon: "●" },
  REVOKED: { label: "Revoked", tone: "danger", icon: "⊘" },
};
