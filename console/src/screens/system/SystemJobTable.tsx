// The system jobs as a table, newest first, a page at a time ("Show more"). Each row links to
// its job and offers Delete entry (asked first: it hides the job from the lists, cancels
// nothing) or, for a hidden one, Unhide; a refusal shows in words on its row.
import { useState } from "preact/hooks";
import { ActionButton } from "../../components/ActionButton";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { Link } from "../../components/Link";
import { ProgressBar } from "../../components/ProgressBar";
import { StatusLabel } from "../../components/StatusLabel";
import { viewer } from "../../stores/session";
import {
  jobTypes,
  loadMoreSystemJobs,
  moreSystemJobs,
  setHidden,
  systemJobs,
  systemJobsError,
  systemJobsState,
  systemJobsTotal,
  type SystemJob,
} from "../../stores/systemJobs";
import { ACTIONS, availability } from "../../utilities/actions";
import { QUESTIONS, SAID } from "../job/JobActions";
import { formatCount, formatMoment } from "../../utilities/format";
import { JOB_OUTCOMES, JOB_STATUSES } from "../../utilities/statuses";

export function SystemJobTable() {
  const [said, setSaid] = useState<string | null>(null);
  const rows = systemJobs.value;
  const state = systemJobsState.value;
  const total = systemJobsTotal.value;
  return (
    <section class="card" aria-labelledby="system-jobs-title">
      <div class="card-head">
        <h2 id="system-jobs-title">Jobs the platform started</h2>
        <span class="count" role="status">
          {state === "loading" ? "Loading…" : total !== null && `${formatCount(total)} system job${total === 1 ? "" : "s"}`}
        </span>
      </div>
      {state === "error" && (
        <p class="notice notice-danger" role="alert">
          {systemJobsError.value}
        </p>
      )}
      <p class="action-said" role="status">
        {said}
      </p>
      <div class="table-wide">
        <table class="admin-table system-job-table" aria-labelledby="system-jobs-title" aria-busy={state === "loading"}>
          <thead>
            <tr>
              <th scope="col">Type</th>
              <th scope="col">Tenant</th>
              <th scope="col">Progress</th>
              <th scope="col">Status</th>
              <th scope="col">User</th>
              <th scope="col">Created</th>
              <th scope="col">Completed</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {rows.map((job) => (
              <SystemJobRow key={job.id} job={job} onSaid={setSaid} />
            ))}
          </tbody>
        </table>
      </div>
      {state === "ready" && rows.length === 0 && (
        <p class="empty">No system job matches. Change the filters, or include hidden entries.</p>
      )}
      {moreSystemJobs.value && (
        <button type="button" class="more" onClick={() => void loadMoreSystemJobs()}>
          Show more system jobs
        </button>
      )}
    </section>
  );
}

/** A moment in the reader's time; the exact instant in the element and its tooltip. */
function Moment({ at }: { at: string | null }) {
  if (!at) return <>—</>;
  return (
    <time dateTime={at} title={at}>
      {formatMoment(at)}
    </time>
  );
}

const HIDE = QUESTIONS.hide!;

function SystemJobRow({ job, onSaid }: { job: SystemJob; onSaid: (said: string | null) => void }) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const action = job.hidden ? "unhide" : "hide";
  const label = jobTypes.value.find((type) => type.name === job.type)?.label ?? job.type;

  async function run() {
    setBusy(true);
    setError(null);
    onSaid(null);
    const refused = await setHidden(action, job.id);
    setBusy(false);
    if (refused) setError(refused);
    else onSaid(job.hidden ? `“${job.name}” is listed again.` : `“${job.name}”: ${SAID.hide}`);
  }

  return (
    <tr aria-label={job.name}>
      <td data-label="Type">
        <span class="system-job-type" title={job.type}>
          {label}
        </span>
        <Link href={`/jobs/${job.id}`} class="system-job-name">
          {job.name}
        </Link>
      </td>
      <td data-label="Tenant">{job.tenant.slug}</td>
      <td data-label="Progress" class="system-job-progress">
        <ProgressBar progress={job.progress} label={`Progress of ${job.name}`} />
      </td>
      <td data-label="Status">
        <StatusLabel look={JOB_STATUSES[job.status]} />
        {job.outcome && <StatusLabel look={JOB_OUTCOMES[job.outcome]} class={`outcome outcome-${job.outcome}`} />}
        {job.hidden && <span class="tag">Hidden</span>}
      </td>
      {/* No principal: the platform itself started it (a schedule, a parent job). */}
      <td data-label="User">{job.runBy?.name ?? "System"}</td>
      <td data-label="Created">
        <Moment at={job.createdAt} />
      </td>
      <td data-label="Completed">
        <Moment at={job.endedAt} />
      </td>
      <td data-label="">
        <ActionButton
          id={`${action}-${job.id}`}
          class={action === "hide" ? "danger-outline" : undefined}
          availability={availability(action, job, viewer.value?.role)}
          busy={busy}
          onPress={() => (action === "hide" ? setAsking(true) : void run())}
        >
          {ACTIONS[action].label}
        </ActionButton>
        {error && (
          <p class="notice notice-danger" role="alert">
            {error}
          </p>
        )}
        {asking && (
          <ConfirmDialog
            title={HIDE.title}
            confirm={HIDE.confirm}
            keep={HIDE.keep}
            danger
            onConfirm={() => void run()}
            onClose={() => setAsking(false)}
          >
            <p>{HIDE.body}</p>
          </ConfirmDialog>
        )}
      </td>
    </tr>
  );
}
