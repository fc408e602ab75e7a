// A record's journey: its steps on a timeline (bars in proportion to their time), each with
// its status, duration, wait and who answered, detail and error; Approve / Reject while it waits.
import { useState } from "preact/hooks";
import { Fact } from "../../components/Fact";
import { Header } from "../../components/Header";
import { Link } from "../../components/Link";
import { StatusLabel } from "../../components/StatusLabel";
import { answerFor, completeWait, record, recordError, recordState, waitSchema, type JourneyRecord } from "../../stores/record";
import { viewer } from "../../stores/session";
import { formatDuration, formatMoment } from "../../utilities/format";
import { RECORD_STATUSES, STEP_STATUSES } from "../../utilities/statuses";

export function RecordScreen() {
  const shown = record.value;
  const state = recordState.value;
  return (
    <>
      <Header />
      <main class="detail">
        <nav class="crumbs" aria-label="Breadcrumb">
          <Link href="/jobs">← Jobs</Link>
          {shown?.job && (
            <>
              {" / "}
              <Link href={`/jobs/${shown.job.id}`} shortcut="Escape">
                {shown.job.name}
              </Link>
              {shown.chunk && (
                <>
                  {" / "}
                  <Link href={`/jobs/${shown.job.id}?chunk=${shown.chunk.index}`}>chunk {shown.chunk.index}</Link>
                </>
              )}
            </>
          )}
        </nav>
        {state === "missing" && (
          <div class="card">
            <h1>Record not found</h1>
            <p>No record has this id, or it belongs to another tenant.</p>
          </div>
        )}
        {state === "error" && (
          <p class="notice notice-danger" role="alert">
            {recordError.value}
          </p>
        )}
        {!shown && state === "loading" && <p class="empty">Loading the record…</p>}
        {shown && state !== "missing" && <Journey record={shown} />}
      </main>
    </>
  );
}

function Journey({ record }: { record: JourneyRecord }) {
  const steps = record.journey;
  const origin = steps.length ? Date.parse(steps[0].startedAt) : 0;
  const ends = steps.map((step) => (step.endedAt ? Date.parse(step.endedAt) : Date.now()));
  const span = Math.max(1, ...ends.map((end) => end - origin));
  // The timeline's scale: the whole journey is 1000 units wide.
  const at = (moment: number) => ((moment - origin) / span) * 1000;
  return (
    <>
      <section class="card job-head" aria-labelledby="record-title">
        <div class="job-title-row">
          <h1 id="record-title">
            Record <span class="record-key">{record.key}</span>
          </h1>
          <span class="run-status" aria-label="Status">
            <StatusLabel look={RECORD_STATUSES[record.status]} />
          </span>
        </div>
        <dl class="run-facts job-facts">
          <Fact label="Outcome" value={record.outcome ? RECORD_STATUSES[record.outcome].label : ""} />
          <Fact label="Attempts" value={String(record.attempts)} />
          <Fact label="Started" value={formatMoment(record.startedAt)} />
          <Fact label="Ended" value={formatMoment(record.endedAt)} />
          <Fact label="Duration" value={formatDuration(record.durationSeconds)} />
          <Fact label="Position" value={String(record.position)} />
        </dl>
        {record.error && (
          <p class="notice notice-danger" aria-label="Error">
            {record.error}
          </p>
        )}
        {record.status === "WAITING" && <Answer />}
      </section>
      <section class="card" aria-labelledby="steps-title">
        <div class="card-head">
          <h2 id="steps-title">Steps</h2>
        </div>
        {steps.length === 0 && <p class="empty">No step has run yet.</p>}
        <ol class="steps" aria-labelledby="steps-title">
          {steps.map((step, index) => {
            const start = at(Date.parse(step.startedAt));
            const end = at(ends[index]);
            const waited = step.waitedSeconds ? Math.min(end - start, ((step.waitedSeconds * 1000) / span) * 1000) : 0;
            return (
              <li class="step" key={`${step.name}-${index}`} aria-label={step.name}>
                <div class="step-head">
                  <span class="step-name">{step.name}</span>
                  <StatusLabel look={STEP_STATUSES[step.status]} />
                  <span class="step-duration" aria-label="Duration">
                    {formatDuration(step.durationSeconds)}
                  </span>
                </div>
                <svg class="step-bar" viewBox="0 0 1000 10" preserveAspectRatio="none" aria-hidden="true">
                  <rect class="step-track" x={0} y={0} width={1000} height={10} />
                  <rect class={`step-span tone-${STEP_STATUSES[step.status].tone}`} x={start} y={0} width={Math.max(2, end - start)} height={10} />
                  {waited > 0 && <rect class="step-wait" x={start} y={0} width={waited} height={10} />}
                </svg>
                {(step.waitedSeconds != null || step.answeredBy) && (
                  <p class="step-wait-text">
                    Waited {formatDuration(step.waitedSeconds)}
                    {step.answeredBy && `, answered by ${step.answeredBy}`}
                  </p>
                )}
                {step.error && <p class="step-error">{step.error}</p>}
                {step.detail != null && <pre class="step-detail">{JSON.stringify(step.detail, null, 2)}</pre>}
              </li>
            );
          })}
        </ol>
      </section>
    </>
  );
}

function Answer() {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const name = viewer.value?.name ?? "";
  const role = viewer.value?.role;
  const allowed = role !== "VIEWER";
  const why = allowed ? undefined : "Needs the OPERATOR role; you are VIEWER.";
  async function answer(approved: boolean) {
    if (!allowed || busy) return;
    setBusy(true);
    setError(await completeWait(answerFor(waitSchema.value, approved, name)));
    setBusy(false);
  }
  return (
    <div class="answer" role="group" aria-label="Answer the wait">
      <p>
        This record waits for an answer. Approving or rejecting sends it as <strong>{name}</strong>.
      </p>
      <div class="action-bar">
        <button type="button" class="primary" aria-disabled={allowed ? undefined : "true"} title={why} onClick={() => void answer(true)}>
          Approve
        </button>
        <button type="button" aria-disabled={allowed ? undefined : "true"} title={why} onClick={() => void answer(false)}>
          Reject
        </button>
      </div>
      {error && (
        <p class="notice notice-danger" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
