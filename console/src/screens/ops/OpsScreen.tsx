// The Live ops page: summary cards that update by themselves (the liveOps subscription):
// jobs by status, stalled jobs, failures of the last 24 h, the last hour's average wait,
// workers online and the queue.
import type { ComponentChildren } from "preact";
import { Fact } from "../../components/Fact";
import { Header } from "../../components/Header";
import { Link } from "../../components/Link";
import { StatusLabel } from "../../components/StatusLabel";
import { summary, summaryAt, type ListedJob, type LiveOps } from "../../stores/ops";
import { seesAllTenants } from "../../stores/session";
import { formatCount, formatDuration, formatMoment } from "../../utilities/format";
import { JOB_STATUSES } from "../../utilities/statuses";

export function OpsScreen() {
  const shown = summary.value;
  const at = summaryAt.value;
  return (
    <>
      <Header />
      <main class="detail ops" aria-busy={!shown}>
        <div class="ops-title">
          <h1>Live ops</h1>
          {at && <span class="count">Updated {formatMoment(new Date(at).toISOString())}</span>}
        </div>
        {shown ? <Cards ops={shown} /> : <p class="empty">Waiting for the live summary…</p>}
      </main>
    </>
  );
}

function Cards({ ops }: { ops: LiveOps }) {
  return (
    <div class="ops-cards">
      <section class="card ops-card ops-statuses" aria-labelledby="ops-statuses">
        <div class="card-head">
          <h2 id="ops-statuses">Jobs by status</h2>
        </div>
        <dl class="ops-status-list">
          {ops.counts.map(({ status, count }) => (
            <div class="ops-status" key={status}>
              <dt>
                <StatusLabel look={JOB_STATUSES[status]} />
              </dt>
              <dd aria-label={JOB_STATUSES[status].label}>
                <Link href={`/jobs?status=${status}`}>{formatCount(count)}</Link>
              </dd>
            </div>
          ))}
        </dl>
      </section>

      <Figure id="ops-stalled" title="Stalled" value={formatCount(ops.stalled)} tone={ops.stalled ? "warning" : undefined}>
        <Listed jobs={ops.stalledJobs} total={ops.stalled} label="Stalled jobs" none="No job is stalled." moment="startedAt" />
      </Figure>

      <Figure
        id="ops-failed"
        title="Failed in the last 24 h"
        value={formatCount(ops.failedLast24h)}
        tone={ops.failedLast24h ? "danger" : undefined}
      >
        <Listed
          jobs={ops.failedJobsLast24h}
          total={ops.failedLast24h}
          label="Failed jobs"
          none="No job failed in the last 24 hours."
          moment="endedAt"
        />
        {ops.failedLast24h > 0 && (
          <p class="ops-more">
            <Link href="/jobs?status=FAILED">All failed jobs</Link>
          </p>
        )}
      </Figure>

      <Figure
        id="ops-wait"
        title="Average wait, last hour"
        value={ops.avgWaitSecondsLastHour == null ? "—" : formatDuration(ops.avgWaitSecondsLastHour)}
      >
        <p class="hint">
          {ops.avgWaitSecondsLastHour == null
            ? "No job started in the last hour."
            : "From creation to start, of the jobs started in the last hour."}
        </p>
      </Figure>

      <Figure
        id="ops-workers"
        title="Workers online"
        value={formatCount(ops.workersOnline)}
        tone={ops.workersOnline ? undefined : "danger"}
      >
        <p class="hint">
          {ops.workersOnline === 0
            ? "No worker is online: no job can start or go on."
            : "Worker processes with a live heartbeat."}
        </p>
      </Figure>

      <Figure id="ops-queue" title="Queue depth" value={formatCount(ops.queueDepth)}>
        <p class="hint">Chunks ready to run, waiting for a worker.</p>
      </Figure>
    </div>
  );
}

type FigureProps = {
  id: string;
  title: string;
  value: string;
  tone?: "warning" | "danger";
  children?: ComponentChildren;
};

/** A card of one headline figure, with what explains or lists it below. */
function Figure({ id, title, value, tone, children }: FigureProps) {
  return (
    <section class="card ops-card" aria-labelledby={id}>
      <div class="card-head">
        <h2 id={id}>{title}</h2>
      </div>
      <dl class="ops-figure">
        <Fact label={title} value={value} class={tone ? `tone-${tone}` : undefined} />
      </dl>
      {children}
    </section>
  );
}

type ListedProps = {
  jobs: ListedJob[];
  total: number;
  label: string;
  none: string;
  moment: "startedAt" | "endedAt";
};

function Listed({ jobs, total, label, none, moment }: ListedProps) {
  if (total === 0) return <p class="hint">{none}</p>;
  return (
    <>
      <ul class="ops-jobs" aria-label={label}>
        {jobs.map((job) => (
          <li key={job.id}>
            <Link href={`/jobs/${job.id}`}>{job.name}</Link>
            <span class="run-type">{job.type}</span>
            {seesAllTenants.value && <span class="run-tenant">{job.tenant.slug}</span>}
            <span class="count">
              {moment === "startedAt" ? "started" : "failed"} {formatMoment(job[moment])}
            </span>
          </li>
        ))}
      </ul>
      {total > jobs.length && <p class="hint">and {formatCount(total - jobs.length)} more</p>}
    </>
  );
}
