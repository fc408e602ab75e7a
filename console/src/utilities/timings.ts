// A job's waiting time and duration as they read now: the server's values, grown in the
// browser since they arrived while the job waits to start (waiting) or runs (duration).
import type { JobStatus } from "./statuses";
import { NOT_STARTED, RUNNING_NOW } from "./statuses";

export type Timed = {
  status: JobStatus;
  endedAt: string | null;
  waitingSeconds: number;
  durationSeconds: number | null;
};

/** Whether the job's times grow: only then does a view need to read the ticking clock. */
export function timesGrow(job: Timed): boolean {
  return NOT_STARTED.has(job.status) || (RUNNING_NOW.has(job.status) && !job.endedAt);
}

/** `elapsed`: seconds since the server's values arrived. */
export function currentTimes(job: Timed, elapsed: number): { waiting: number; duration: number | null } {
  const waiting = job.waitingSeconds + (NOT_STARTED.has(job.status) ? elapsed : 0);
  const duration =
    job.durationSeconds === null ? null : job.durationSeconds + (RUNNING_NOW.has(job.status) ? elapsed : 0);
  return { waiting, duration };
}
