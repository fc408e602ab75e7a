// A job's detail page: what it is, its timings and why it waits, its actions, and its parts
// (chunks, records, children, history, log), kept current by the job's event stream.
import { Fact } from "../../components/Fact";
import { Header } from "../../components/Header";
import { Link } from "../../components/Link";
import { ProgressBar } from "../../components/ProgressBar";
import { StatusLabel } from "../../components/StatusLabel";
import { now } from "../../stores/clock";
import { job, jobError, jobReceivedAt, jobState, refreshJob, type JobDetail } from "../../stores/job";
import { seesAllTenants } from "../../stores/session";
import { formatDuration, formatMoment } from "../../utilities/format";
import { JOB_OUTCOMES, JOB_STATUSES } from "../../utilities/statuses";
import { currentTimes, timesGrow } from "../../utilities/timings";
import { ChildrenTree } from "./ChildrenTree";
import { ChunkMap } from "./ChunkMap";
import { History } from "./History";
import { JobActions } from "./JobActions";
import { Logs } from "./Logs";
import { RecordsPanel } from "./RecordsPanel";

export function JobScreen() {
  const shown = job.value;
  const state = jobState.value;
  return (
    <>
      <Header>
        <button type="button" class="primary" aria-keyshortcuts="r" onClick={refreshJob}>
          Refresh
        </button>
      </Header>
      <main class="detail">
        <nav class="crumbs" aria-label="Breadcrumb">
          <Link href="/jobs" shortcut="Escape">
            ← Jobs
          </Link>
        </nav>
        {state === "missing" && <Missing />}
        {state === "error" && (
          <p class="notice notice-danger" role="alert">
            {jobError.value}
          </p>
        )}
        {!shown && state === "loading" && <p class="empty">Loading the job…</p>}
        {shown && state !== "missing" && <Detail job={shown} />}
      </main>
    </>
  );
}

function Missing() {
  return (
    <div class="card">
      <h1>Job not found</h1>
      <p>
        No job has this id, or it belongs to another tenant. <Link href="/jobs">Go to the jobs</Link>.
      </p>
    </div>
  );
}

function Detail({ job }: { job: JobDetail }) {
  const elapsed = timesGrow(job) ? Math.max(0, (now.value - jobReceivedAt.value) / 1000) : 0;
  const { waiting, duration } = currentTimes(job, elapsed);
  const systemRun = job.system || job.runBy?.kind === "SYSTEM";
  return (
    <>
      <section class="card job-head" aria-labelledby="job-title">
        <div class="job-title-row">
          <h1 id="job-title">{job.name}</h1>
          <span class="run-type" aria-label="Type">
            {job.type}
          </span>
          {seesAllTenants.value && (
            <span class="run-tenant" aria-label="Tenant">
              {job.tenant.slug}
            </span>
          )}
          {job.lowPriority && <span class="tag">Low priority</span>}
          {job.hidden && <span class="tag">Hidden from lists</span>}
          {job.stalled && <span class="tag tag-warning">Stalled</span>}
          <span class="run-status" aria-label="Status">
            <StatusLabel look={JOB_STATUSES[job.status]} />
            {job.outcome && <StatusLabel look={JOB_OUTCOMES[job.outcome]} class={`outcome outcome-${job.outcome}`} />}
          </span>
        </div>
        {(job.parent || job.restartedFrom) && (
          <p class="lineage">
            {job.parent && (
              <>
                Child of <Link href={`/jobs/${job.parent.id}`}>{job.parent.name}</Link>.{" "}
              </>
            )}
            {job.restartedFrom && (
              <>
                Runs again <Link href={`/jobs/${job.restartedFrom.id}`}>{job.restartedFrom.name}</Link>.
              </>
            )}
          </p>
        )}
        <ProgressBar progress={job.progress} label={`Progress of ${job.name}`} />
        {(job.progress.interrupted > 0 || job.progress.canceled > 0) && (
          <p class="hint">
            {job.progress.interrupted > 0 && `${job.progress.interrupted} interrupted. `}
            {job.progress.canceled > 0 && `${job.progress.canceled} canceled.`}
          </p>
        )}
        <dl class="run-facts job-facts">
          <Fact label="Run by" value={systemRun ? "system" : (job.runBy?.name ?? "")} />
          <Fact label="Created" value={formatMoment(job.createdAt)} />
          <Fact label="Waiting" value={formatDuration(waiting)} />
          <Fact label="Started" value={formatMoment(job.startedAt)} />
          <Fact label="Ended" value={formatMoment(job.endedAt)} />
          <Fact label="Duration" value={formatDuration(duration)} />
          <Fact label="Last event" value={`#${job.seq}`} />
        </dl>
        {job.error && (
          <p class="notice notice-danger">
            <strong>Error:</strong> {job.error}
          </p>
        )}
        <JobActions job={job} />
      </section>
      <div class="detail-grid">
        <div class="detail-column">
          <ChunkMap />
          <RecordsPanel />
          <ChildrenTree job={job} />
        </div>
        <div class="detail-column">
          <History />
          <Logs />
        </div>
      </div>
    </>
  );
}
