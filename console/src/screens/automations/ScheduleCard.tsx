// One schedule: what it runs and when (in words, as cron, in UTC and in its own zone), its
// actions, and its last runs with how they went and who started them.
import { useState } from "preact/hooks";
import { ActionButton } from "../../components/ActionButton";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { Fact } from "../../components/Fact";
import { Link } from "../../components/Link";
import { StatusLabel } from "../../components/StatusLabel";
import {
  deleteSchedule,
  runScheduleNow,
  scheduleTypes,
  setScheduleEnabled,
  type Schedule,
} from "../../stores/automations";
import type { Availability } from "../../utilities/actions";
import { formatMoment, formatUtc, formatWallClock } from "../../utilities/format";
import { JOB_OUTCOMES, JOB_STATUSES, SCHEDULE_STATES } from "../../utilities/statuses";
import { ScheduleForm, savedSentence } from "./ScheduleForm";

type Busy = "run" | "toggle" | "delete" | null;
type Said = { text: string; job?: string };

type Props = { schedule: Schedule; access: Availability; onDeleted: () => void };

export function ScheduleCard({ schedule, access, onDeleted }: Props) {
  const [editing, setEditing] = useState(false);
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState<Busy>(null);
  const [error, setError] = useState<string | null>(null);
  const [said, setSaid] = useState<Said | null>(null);
  const titleId = `schedule-${schedule.id}`;
  const type = scheduleTypes.value.find((candidate) => candidate.name === schedule.type);

  async function toggle() {
    setBusy("toggle");
    setError(null);
    setSaid(null);
    const refused = await setScheduleEnabled(schedule.id, !schedule.enabled);
    setBusy(null);
    if (refused) setError(refused);
    else setSaid({ text: schedule.enabled ? "Disabled: it runs only when run now." : "Enabled: it runs on time again." });
  }

  async function runNow() {
    setBusy("run");
    setError(null);
    setSaid(null);
    const outcome = await runScheduleNow(schedule.id);
    setBusy(null);
    if ("error" in outcome) setError(outcome.error);
    else setSaid({ text: "Started a run.", job: outcome.started });
  }

  async function remove() {
    setBusy("delete");
    setError(null);
    const refused = await deleteSchedule(schedule.id);
    // Deleted, the card is gone: the page says so.
    if (refused) {
      setBusy(null);
      setError(refused);
    } else onDeleted();
  }

  if (editing) {
    return (
      <li class="card schedule" aria-labelledby={titleId}>
        <h2 id={titleId} class="visually-hidden">
          {schedule.name}
        </h2>
        <ScheduleForm
          original={schedule}
          onSaved={(saved) => {
            setEditing(false);
            setSaid({ text: savedSentence(saved) });
          }}
          onCancel={() => setEditing(false)}
        />
      </li>
    );
  }

  return (
    <li class="card schedule" aria-labelledby={titleId}>
      <div class="card-head">
        <h2 id={titleId}>{schedule.name}</h2>
        <span class="tag" aria-label="Job type" title={schedule.type}>
          {type?.label ?? schedule.type}
        </span>
        <span aria-label="State">
          <StatusLabel look={SCHEDULE_STATES[schedule.enabled ? "ENABLED" : "DISABLED"]} />
        </span>
      </div>
      <dl class="schedule-facts">
        <Fact label="When" value={schedule.cronDescription ?? ""} class="fact-wide" />
        <Fact label="Cron" value={schedule.cron} class="fact-code" />
        <Fact label="Time zone" value={schedule.timezone} />
        <Fact label="Next run (UTC)" value={schedule.enabled ? formatUtc(schedule.nextRunAt) : "Not on time: disabled"} />
        {schedule.timezone !== "UTC" && (
          <Fact
            label={`Next run (${schedule.timezone})`}
            value={schedule.enabled ? formatWallClock(schedule.nextRunAtLocal) : "Not on time: disabled"}
          />
        )}
      </dl>
      <div class="action-bar schedule-actions" role="toolbar" aria-label={`Actions for ${schedule.name}`}>
        <ActionButton id={`run-${schedule.id}`} availability={access} busy={busy === "run"} onPress={() => void runNow()}>
          Run now
        </ActionButton>
        <ActionButton id={`edit-${schedule.id}`} availability={access} onPress={() => setEditing(true)}>
          Edit
        </ActionButton>
        <ActionButton
          id={`toggle-${schedule.id}`}
          availability={access}
          busy={busy === "toggle"}
          onPress={() => void toggle()}
        >
          {schedule.enabled ? "Disable" : "Enable"}
        </ActionButton>
        <ActionButton
          id={`delete-${schedule.id}`}
          class="danger-outline"
          availability={access}
          busy={busy === "delete"}
          onPress={() => setAsking(true)}
        >
          Delete
        </ActionButton>
      </div>
      {error && (
        <p class="notice notice-danger schedule-notice" role="alert">
          {error}
        </p>
      )}
      <p class="action-said schedule-notice" role="status">
        {said?.text}
        {said?.job && (
          <>
            {" "}
            <Link href={`/jobs/${said.job}`}>Open the run</Link>
          </>
        )}
      </p>
      <LastRuns schedule={schedule} />
      {asking && (
        <ConfirmDialog
          title={`Delete “${schedule.name}”?`}
          confirm="Delete automation"
          keep="Keep it"
          danger
          onConfirm={() => void remove()}
          onClose={() => setAsking(false)}
        >
          <p>It will not start again. The jobs it started stay, with their logs.</p>
        </ConfirmDialog>
      )}
    </li>
  );
}

function LastRuns({ schedule }: { schedule: Schedule }) {
  const runs = schedule.lastRuns;
  const labelId = `runs-${schedule.id}`;
  return (
    <section class="last-runs" aria-label={`Last runs of ${schedule.name}`}>
      <h3 id={labelId}>Last runs</h3>
      {runs.length === 0 ? (
        <p class="hint">It has not run yet.</p>
      ) : (
        <ul aria-labelledby={labelId}>
          {runs.map(({ job, startedBy }) => (
            <li key={job.id} class="last-run">
              <Link href={`/jobs/${job.id}`}>{formatMoment(job.createdAt)}</Link>
              <span class="last-run-status" aria-label="Outcome">
                <StatusLabel look={JOB_STATUSES[job.status]} />
                {job.outcome && <StatusLabel look={JOB_OUTCOMES[job.outcome]} class={`outcome outcome-${job.outcome}`} />}
              </span>
              <span class="last-run-by" aria-label="Started by">
                {startedBy.kind === "SYSTEM" ? "on time, by the scheduler" : `now, by ${startedBy.name}`}
              </span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
