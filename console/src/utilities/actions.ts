// Which lifecycle actions a job offers, to whom, and why not: the one table the console
// asks, mirroring the server's transitions (the server still decides; this explains). The
// role ranks here also decide what the Automations and Admin pages offer.
import { graphql } from "../graphql";
import { JOB_STATUSES, type JobStatus, type Role } from "./statuses";

export type JobAction =
  | "stop"
  | "forceStop"
  | "resume"
  | "cancel"
  | "restart"
  | "retryFailed"
  | "setLowPriority"
  | "removeLowPriority"
  | "hide"
  | "unhide";

/** What the table needs to know about a job. */
export type ActionFacts = {
  status: JobStatus;
  type: string;
  system: boolean;
  stoppable: boolean;
  restartable: boolean;
  lowPriority: boolean;
  hidden: boolean;
  progress: { failed: number; interrupted: number };
};

export type Availability = { enabled: true } | { enabled: false; reason: string };

const RANK: Record<Role, number> = { VIEWER: 0, OPERATOR: 1, ADMIN: 2, PLATFORM: 3 };

type Rule = {
  label: string;
  role: Role;
  /** The statuses the server accepts the action in. */
  from: readonly JobStatus[];
  /** What the statuses mean, for the reason a disabled control gives. */
  when: string;
  /** The job type (or the job) refuses it: the reason, else null. */
  refusedBy?: (job: ActionFacts) => string | null;
};

const OPEN: readonly JobStatus[] = ["PENDING", "RUNNING", "WAITING", "STOPPING", "STOPPED", "CANCELING"];
const ENDED: readonly JobStatus[] = ["FINISHED", "FAILED", "CANCELED"];
const ANY: readonly JobStatus[] = [...OPEN, ...ENDED];

// A system job whose type cannot stop midway refuses stop, force stop and a cancel that
// would drain it; a PENDING or STOPPED one has nothing in flight and may still be canceled.
const unstoppable = (job: ActionFacts) =>
  job.system && !job.stoppable ? `Jobs of type ${job.type} cannot be stopped midway.` : null;

const notRestartable = (job: ActionFacts) =>
  job.restartable ? null : `Jobs of type ${job.type} cannot be run again.`;

export const ACTIONS: Record<JobAction, Rule> = {
  stop: { label: "Stop", role: "OPERATOR", from: ["PENDING", "RUNNING", "WAITING"], when: "pending, running or waiting", refusedBy: unstoppable },
  forceStop: { label: "Force stop", role: "OPERATOR", from: ["STOPPING"], when: "stopping", refusedBy: unstoppable },
  resume: { label: "Resume", role: "OPERATOR", from: ["STOPPED"], when: "stopped" },
  cancel: {
    label: "Cancel",
    role: "OPERATOR",
    from: ["PENDING", "STOPPED", "RUNNING", "WAITING"],
    when: "pending, running, waiting or stopped",
    refusedBy: (job) => (job.status === "RUNNING" || job.status === "WAITING" ? unstoppable(job) : null),
  },
  restart: { label: "Restart", role: "OPERATOR", from: ENDED, when: "finished, failed or canceled", refusedBy: notRestartable },
  retryFailed: {
    label: "Retry failed records",
    role: "OPERATOR",
    from: ENDED,
    when: "finished, failed or canceled",
    refusedBy: (job) =>
      notRestartable(job) ??
      (job.progress.failed + job.progress.interrupted === 0 ? "No record failed or was interrupted." : null),
  },
  setLowPriority: {
    label: "Set low priority",
    role: "ADMIN",
    from: OPEN,
    when: "not ended",
    refusedBy: (job) => (job.lowPriority ? "It already has low priority." : null),
  },
  removeLowPriority: {
    label: "Remove low priority",
    role: "ADMIN",
    from: OPEN,
    when: "not ended",
    refusedBy: (job) => (job.lowPriority ? null : "It does not have low priority."),
  },
  hide: {
    label: "Delete entry",
    role: "OPERATOR",
    from: ANY,
    when: "in any status",
    refusedBy: (job) => (job.hidden ? "It is already hidden from the lists." : null),
  },
  unhide: {
    label: "Unhide",
    role: "ADMIN",
    from: ANY,
    when: "in any status",
    refusedBy: (job) => (job.hidden ? null : "It is not hidden."),
  },
};

/** Whether `role` holds at least `needed`, and if not, the reason a disabled control gives. */
export function needsRole(needed: Role, role: Role | undefined): Availability {
  return role && RANK[role] >= RANK[needed]
    ? { enabled: true }
    : { enabled: false, reason: `Needs the ${needed} role; you are ${role ?? "not signed in"}.` };
}

/** The roles a token created by `role` may have: never above the creator's own. */
export function grantableRoles(role: Role | undefined): Role[] {
  return (Object.keys(RANK) as Role[]).filter((candidate) => needsRole(candidate, role).enabled);
}

/** Whether `role` may take `action` on `job` now, and if not, why (role, state or job type). */
export function availability(action: JobAction, job: ActionFacts, role: Role | undefined): Availability {
  const rule = ACTIONS[action];
  const allowed = needsRole(rule.role, role);
  if (!allowed.enabled) return allowed;
  if (!rule.from.includes(job.status)) {
    return {
      enabled: false,
      reason: `Only a job that is ${rule.when} can take this; it is ${JOB_STATUSES[job.status].label.toLowerCase()}.`,
    };
  }
  const refused = rule.refusedBy?.(job);
  return refused ? { enabled: false, reason: refused } : { enabled: true };
}

export type BulkAction = ReturnType<typeof graphql.scalar<"BulkAction">>;

/** The bulk actions the Jobs page offers: each is the job action of the same name, with its
 * label and role; `done` says what it does to a job ("3 of them can be canceled now"). UNHIDE
 * is left out: the Jobs page lists no hidden job. */
export const BULK_ACTIONS: { action: BulkAction; jobAction: JobAction; done: string }[] = [
  { action: "STOP", jobAction: "stop", done: "stopped" },
  { action: "RESUME", jobAction: "resume", done: "resumed" },
  { action: "CANCEL", jobAction: "cancel", done: "canceled" },
  { action: "RETRY_FAILED_RECORDS", jobAction: "retryFailed", done: "retried" },
  { action: "SET_LOW_PRIORITY", jobAction: "setLowPriority", done: "given low priority" },
  { action: "REMOVE_LOW_PRIORITY", jobAction: "removeLowPriority", done: "given normal priority" },
  { action: "HIDE", jobAction: "hide", done: "hidden from the lists" },
];

/** The bulk actions `role` may take: those it may not are not offered at all. */
export function bulkActionsFor(role: Role | undefined): typeof BULK_ACTIONS {
  return BULK_ACTIONS.filter((bulk) => needsRole(ACTIONS[bulk.jobAction].role, role).enabled);
}
