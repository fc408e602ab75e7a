// The range (a preset or UTC days), bucket size, tenant and type; every change is a new URL.
import { navigate, route, withParams } from "../../stores/route";
import { seesAllTenants, seesSystemJobs } from "../../stores/session";
import { dayOf, jobTypes, PRESETS, STATISTICS_PATH, tenants, view, type Preset } from "../../stores/statistics";

function set(changes: Record<string, string | null>): void {
  navigate(STATISTICS_PATH, withParams(changes));
}

export function RangeControls() {
  const shown = view.value;
  const params = route.value.params;
  const effective = "problem" in shown ? null : shown;
  const lastDay = effective ? dayOf(new Date(Date.parse(effective.to) - 1).toISOString()) : "";

  /** One end typed: the other end stays where the range shown has it. */
  function setDay(end: "from" | "to", value: string): void {
    const from = end === "from" ? value : (params.get("from") ?? (effective ? dayOf(effective.from) : ""));
    const to = end === "to" ? value : (params.get("to") ?? lastDay);
    set({ from: from || null, to: to || null, range: null });
  }

  return (
    <form class="filters" aria-label="Range and filters" onSubmit={(event) => event.preventDefault()}>
      <div class="filter">
        <span id="range-label">Range</span>
        <div class="segmented" role="group" aria-labelledby="range-label">
          {(Object.keys(PRESETS) as Preset[]).map((preset) => (
            <button
              type="button"
              aria-pressed={effective?.preset === preset}
              onClick={() => set({ range: preset, from: null, to: null })}
            >
              {PRESETS[preset].label}
            </button>
          ))}
        </div>
      </div>
      <label class="filter">
        <span>From (UTC)</span>
        <input
          type="date"
          name="from"
          value={effective ? dayOf(effective.from) : (params.get("from") ?? "")}
          onChange={(event) => setDay("from", event.currentTarget.value)}
        />
      </label>
      <label class="filter">
        <span>To (UTC)</span>
        <input
          type="date"
          name="to"
          value={effective ? lastDay : (params.get("to") ?? "")}
          onChange={(event) => setDay("to", event.currentTarget.value)}
        />
      </label>
      <label class="filter">
        <span>Bucket</span>
        <select name="bucket" onChange={(event) => set({ bucket: event.currentTarget.value })}>
          <option value="hour" selected={effective?.bucket === "HOUR"}>
            Hour
          </option>
          <option value="day" selected={effective?.bucket === "DAY"}>
            Day
          </option>
        </select>
      </label>
      {seesAllTenants.value && (
        <label class="filter">
          <span>Tenant</span>
          <select name="tenant" onChange={(event) => set({ tenant: event.currentTarget.value || null })}>
            <option value="" selected={!params.get("tenant")}>
              All tenants
            </option>
            {tenants.value.map((tenant) => (
              <option value={tenant.id} selected={params.get("tenant") === tenant.id}>
                {tenant.name}
              </option>
            ))}
          </select>
        </label>
      )}
      <label class="filter">
        <span>Type</span>
        <select name="type" onChange={(event) => set({ type: event.currentTarget.value || null })}>
          <option value="" selected={!params.get("type")}>
            Any
          </option>
          {jobTypes.value
            .filter((type) => seesSystemJobs.value || !type.system)
            .map((type) => (
              <option value={type.name} selected={params.get("type") === type.name}>
                {type.name}
              </option>
            ))}
        </select>
      </label>
    </form>
  );
}
