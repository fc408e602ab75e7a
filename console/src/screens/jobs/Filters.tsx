// Search and filters; every change is a new URL, so a view can be shared and Back undoes it.
import { signal } from "@preact/signals";
import { useEffect, useState } from "preact/hooks";
import { request } from "../../services/connection";
import { runners } from "../../stores/jobs";
import { navigate, route, withParams } from "../../stores/route";
import { myPrincipalId, seesSystemJobs } from "../../stores/session";
import { JOB_STATUSES, type JobStatus } from "../../utilities/statuses";
import { JobTypesQuery } from "./documents";

const jobTypes = signal<{ name: string; system: boolean }[]>([]);

function loadJobTypes(): void {
  if (jobTypes.value.length === 0) {
    request(JobTypesQuery, {}).then((data) => (jobTypes.value = data.jobTypes), () => {});
  }
}

function set(name: string, value: string | null): void {
  // A new filter shows a new list: the selected run may not be in it.
  navigate(route.value.path, withParams({ [name]: value || null, run: null }));
}

export function Filters() {
  const params = route.value.params;
  const [search, setSearch] = useState(params.get("q") ?? "");
  useEffect(loadJobTypes, []);
  // Back and forward bring another search into the box.
  useEffect(() => setSearch(params.get("q") ?? ""), [params.get("q")]);
  const showSystem = params.get("system") === "1";
  const runBy = params.get("by");
  // A shared link may name a principal this tab has not seen run anything yet.
  const me = myPrincipalId.value;
  const runByName = runBy ? (runners.value.get(runBy) ?? "Chosen principal") : null;
  const others = [...runners.value]
    .filter(([id]) => id !== runBy && id !== me)
    .sort(([, a], [, b]) => a.localeCompare(b));

  return (
    <form
      class="filters"
      role="search"
      aria-label="Filter runs"
      onSubmit={(event) => {
        event.preventDefault();
        set("q", search.trim());
      }}
    >
      <label class="filter filter-search">
        <span>Search</span>
        <input
          type="search"
          name="q"
          aria-keyshortcuts="/"
          placeholder="Name, type, tenant or user"
          value={search}
          onInput={(event) => setSearch(event.currentTarget.value)}
        />
      </label>
      <label class="filter">
        <span>Status</span>
        <select name="status" onChange={(event) => set("status", event.currentTarget.value)}>
          <option value="" selected={!params.get("status")}>
            Any
          </option>
          {(Object.keys(JOB_STATUSES) as JobStatus[]).map((status) => (
            <option value={status} selected={params.get("status") === status}>
              {JOB_STATUSES[status].label}
            </option>
          ))}
        </select>
      </label>
      <label class="filter">
        <span>Type</span>
        <select name="type" onChange={(event) => set("type", event.currentTarget.value)}>
          <option value="" selected={!params.get("type")}>
            Any
          </option>
          {jobTypes.value
            .filter((type) => showSystem || !type.system)
            .map((type) => (
              <option value={type.name} selected={params.get("type") === type.name}>
                {type.name}
              </option>
            ))}
        </select>
      </label>
      <label class="filter">
        <span>Run by</span>
        <select name="by" onChange={(event) => set("by", event.currentTarget.value)}>
          <option value="" selected={!runBy}>
            Anyone
          </option>
          {me && (
            <option value={me} selected={runBy === me}>
              Me
            </option>
          )}
          {runBy && runBy !== me && (
            <option value={runBy} selected>
              {runByName}
            </option>
          )}
          {others.map(([id, name]) => (
            <option value={id}>{name}</option>
          ))}
        </select>
      </label>
      <label class="filter">
        <span>Created from</span>
        <input
          type="date"
          name="from"
          value={params.get("from") ?? ""}
          onChange={(event) => set("from", event.currentTarget.value)}
        />
      </label>
      <label class="filter">
        <span>Created to</span>
        <input
          type="date"
          name="to"
          value={params.get("to") ?? ""}
          onChange={(event) => set("to", event.currentTarget.value)}
        />
      </label>
      {seesSystemJobs.value && (
        <label class="filter filter-check">
          <input
            type="checkbox"
            name="system"
            checked={showSystem}
            onChange={(event) => set("system", event.currentTarget.checked ? "1" : null)}
          />
          <span>Show system jobs</span>
        </label>
      )}
      <button type="submit" class="visually-hidden">
        Search
      </button>
    </form>
  );
}
