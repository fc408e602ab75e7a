// Creating or editing a schedule: name, job type, cron, time zone and params. The server checks
// all of it; what it refuses shows beside the field it names, and nothing is saved.
import { useState } from "preact/hooks";
import { Field } from "../../components/Field";
import { saveSchedule, scheduleTypes, type Draft, type Schedule } from "../../stores/automations";

/** UTC first, then every zone the browser knows, and the schedule's own even if it knows none. */
function zones(current: string): string[] {
  const known = Intl.supportedValuesOf("timeZone").filter((zone) => zone !== "UTC");
  return ["UTC", ...(current === "UTC" || known.includes(current) ? [] : [current]), ...known];
}

function browserZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

/** What a save says: the schedule in the server's words. */
export function savedSentence(schedule: Schedule): string {
  return `Saved “${schedule.name}”: ${schedule.cronDescription ?? schedule.cron} (${schedule.timezone}).`;
}

type Errors = Partial<Record<keyof Draft, string>>;

type Props = {
  /** The schedule to edit; null creates one. */
  original: Schedule | null;
  onSaved: (schedule: Schedule) => void;
  onCancel: () => void;
};

export function ScheduleForm({ original, onSaved, onCancel }: Props) {
  const types = scheduleTypes.value;
  const [name, setName] = useState(original?.name ?? "");
  const [type, setType] = useState(original?.type ?? types.find((candidate) => !candidate.system)?.name ?? "");
  const [cron, setCron] = useState(original?.cron ?? "");
  const [timezone, setTimezone] = useState(original?.timezone ?? browserZone());
  const [params, setParams] = useState(original ? JSON.stringify(original.params, null, 2) : "{}");
  const [errors, setErrors] = useState<Errors>({});
  const [refused, setRefused] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const prefix = original ? `edit-${original.id}` : "new";
  const chosen = types.find((candidate) => candidate.name === type);

  async function submit(event: Event) {
    event.preventDefault();
    let parsed: unknown;
    try {
      parsed = params.trim() ? JSON.parse(params) : {};
    } catch (error) {
      setErrors({ params: `Not JSON: ${error instanceof Error ? error.message : String(error)}` });
      setRefused(null);
      document.getElementById(`${prefix}-params`)?.focus();
      return;
    }
    setBusy(true);
    const outcome = await saveSchedule({ name, type, cron: cron.trim(), timezone, params: parsed }, original);
    setBusy(false);
    if ("saved" in outcome) {
      onSaved(outcome.saved);
      return;
    }
    setErrors(outcome.field ? { [outcome.field]: outcome.error } : {});
    setRefused(outcome.field ? null : outcome.error);
    // The writer lands on what to fix.
    if (outcome.field) document.getElementById(`${prefix}-${outcome.field}`)?.focus();
  }

  const title = original ? `Edit “${original.name}”` : "New automation";
  return (
    <form class="schedule-form" aria-label={title} onSubmit={submit} noValidate>
      <h2>{title}</h2>
      <div class="form-grid">
        <Field id={`${prefix}-name`} label="Name" error={errors.name} hint="Also the name of each run.">
          {(control) => (
            <input {...control} value={name} maxLength={200} onInput={(event) => setName(event.currentTarget.value)} />
          )}
        </Field>
        <Field id={`${prefix}-type`} label="Job type" error={errors.type}>
          {(control) => (
            <select {...control} value={type} onChange={(event) => setType(event.currentTarget.value)}>
              {original && !chosen && <option value={original.type}>{original.type}</option>}
              {types.map((candidate) => (
                <option key={candidate.name} value={candidate.name}>
                  {candidate.label}
                  {candidate.system ? " (system)" : ""}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field
          id={`${prefix}-cron`}
          label="Cron"
          error={errors.cron}
          hint={
            <>
              Five fields: minute hour day-of-month month day-of-week, e.g. <code>0 9 * * 1-5</code>
              {original?.cronDescription && ` — now “${original.cronDescription}”`}
            </>
          }
        >
          {(control) => (
            <input
              {...control}
              class="code"
              value={cron}
              spellcheck={false}
              autocomplete="off"
              placeholder="0 9 * * 1-5"
              onInput={(event) => setCron(event.currentTarget.value)}
            />
          )}
        </Field>
        <Field id={`${prefix}-timezone`} label="Time zone" error={errors.timezone} hint="The cron is read on its clock.">
          {(control) => (
            <select {...control} value={timezone} onChange={(event) => setTimezone(event.currentTarget.value)}>
              {zones(timezone).map((zone) => (
                <option key={zone} value={zone}>
                  {zone}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field
          id={`${prefix}-params`}
          label="Params (JSON)"
          class="form-wide"
          error={errors.params}
          hint={paramsHint(chosen?.paramsSchema)}
        >
          {(control) => (
            <textarea
              {...control}
              class="code"
              rows={4}
              spellcheck={false}
              value={params}
              onInput={(event) => setParams(event.currentTarget.value)}
            />
          )}
        </Field>
      </div>
      {refused && (
        <p class="notice notice-danger" role="alert">
          {refused}
        </p>
      )}
      <div class="form-buttons">
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" class="primary" aria-busy={busy || undefined} disabled={busy}>
          {original ? "Save changes" : "Create automation"}
        </button>
      </div>
    </form>
  );
}

/** The params the job type's schema names, so the writer knows what to give. */
function paramsHint(schema: unknown): string {
  const properties = schema && typeof schema === "object" ? (schema as { properties?: object }).properties : undefined;
  const names = properties ? Object.keys(properties) : [];
  return names.length > 0 ? `This job type takes: ${names.join(", ")}.` : "This job type takes no params: {}.";
}
