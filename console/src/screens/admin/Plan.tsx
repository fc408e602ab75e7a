// This month's usage against the tenant's monthly limits, and the limits themselves (empty: no
// limit). Records count those used by ended jobs plus those reserved by jobs still running.
import { useEffect, useState } from "preact/hooks";
import { Field } from "../../components/Field";
import { setLimits, usage, type Usage } from "../../stores/admin";
import { formatCount } from "../../utilities/format";

export function Plan() {
  const shown = usage.value;
  return (
    <section class="card" aria-labelledby="plan-title">
      <div class="card-head">
        <h2 id="plan-title">Monthly limits</h2>
        {shown && <span class="count">Usage in {shown.month} (UTC)</span>}
      </div>
      {shown && (
        <>
          <div class="meters">
            <Meter label="Jobs this month" used={shown.jobsUsed} limit={shown.jobsLimit} unit="jobs" />
            <Meter
              label="Records this month"
              used={shown.recordsUsed}
              reserved={shown.recordsReserved}
              limit={shown.recordsLimit}
              unit="records"
            />
          </div>
          <Limits usage={shown} />
        </>
      )}
    </section>
  );
}

type MeterProps = { label: string; used: number; reserved?: number; limit: number | null; unit: string };

/** Used (and reserved) against the limit: a bar when there is a limit, the count when there is none.
 * Drawn in SVG so the widths need no inline style (the CSP forbids them). */
function Meter({ label, used, reserved = 0, limit, unit }: MeterProps) {
  const counted = used + reserved;
  const parts = `${formatCount(used)} used${reserved ? ` + ${formatCount(reserved)} reserved` : ""}`;
  if (limit === null) {
    return (
      <div class="meter">
        <span class="meter-label">{label}</span>
        <span class="meter-text">{parts} · no limit</span>
      </div>
    );
  }
  const share = (part: number) => (limit > 0 ? Math.min(100, (part / limit) * 100) : 100);
  const over = counted >= limit;
  const text = `${parts} of ${formatCount(limit)} ${unit}`;
  return (
    <div class={`meter${over ? " meter-full" : ""}`}>
      <span class="meter-label" id={`${unit}-meter`}>
        {label}
      </span>
      <div
        role="progressbar"
        aria-labelledby={`${unit}-meter`}
        aria-valuemin={0}
        aria-valuemax={limit}
        aria-valuenow={Math.min(counted, limit)}
        aria-valuetext={text}
        class="meter-bar"
      >
        <svg class="progress-track" viewBox="0 0 100 4" preserveAspectRatio="none" aria-hidden="true">
          <rect class="meter-used" x={0} y={0} width={share(used)} height={4} />
          <rect class="meter-reserved" x={share(used)} y={0} width={share(counted) - share(used)} height={4} />
        </svg>
        <span class="meter-text">
          {formatCount(counted)} / {formatCount(limit)}
        </span>
      </div>
      <span class="hint">{over ? `${text}: the next start is refused.` : text}</span>
    </div>
  );
}

/** The text of a limit's field: empty for none. */
function written(limit: number | null): string {
  return limit === null ? "" : String(limit);
}

function Limits({ usage: shown }: { usage: Usage }) {
  const [jobs, setJobs] = useState(written(shown.jobsLimit));
  const [records, setRecords] = useState(written(shown.recordsLimit));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [refused, setRefused] = useState<string | null>(null);
  const [said, setSaid] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  // A refresh shows the limits as they are now.
  useEffect(() => {
    setJobs(written(shown.jobsLimit));
    setRecords(written(shown.recordsLimit));
  }, [shown.jobsLimit, shown.recordsLimit]);

  async function submit(event: Event) {
    event.preventDefault();
    const read = (text: string) => (text.trim() === "" ? null : Number(text));
    const wanted = { monthlyJobs: read(jobs), monthlyRecords: read(records) };
    const malformed = Object.entries(wanted).filter(([, value]) => value !== null && !Number.isSafeInteger(value));
    setSaid(null);
    setRefused(null);
    if (malformed.length > 0) {
      setErrors(Object.fromEntries(malformed.map(([field]) => [field, "Write a whole number, or nothing for no limit."])));
      return;
    }
    setBusy(true);
    const outcome = await setLimits(wanted.monthlyJobs, wanted.monthlyRecords);
    setBusy(false);
    if (!outcome) {
      setErrors({});
      setSaid("Limits saved.");
    } else if (outcome.field) setErrors({ [outcome.field]: outcome.error });
    else {
      setErrors({});
      setRefused(outcome.error);
    }
  }

  return (
    <form class="inline-form" aria-label="Monthly limits" onSubmit={submit} noValidate>
      <Field id="limit-jobs" label="Jobs per month" error={errors.monthlyJobs} hint="Empty: no limit.">
        {(control) => (
          <input
            {...control}
            inputMode="numeric"
            placeholder="No limit"
            value={jobs}
            onInput={(event) => setJobs(event.currentTarget.value)}
          />
        )}
      </Field>
      <Field id="limit-records" label="Records per month" error={errors.monthlyRecords} hint="Empty: no limit.">
        {(control) => (
          <input
            {...control}
            inputMode="numeric"
            placeholder="No limit"
            value={records}
            onInput={(event) => setRecords(event.currentTarget.value)}
          />
        )}
      </Field>
      <button type="submit" class="primary" aria-busy={busy || undefined} disabled={busy}>
        Save limits
      </button>
      {refused && (
        <p class="notice notice-danger" role="alert">
          {refused}
        </p>
      )}
      <p class="action-said" role="status">
        {said}
      </p>
    </form>
  );
}
