// The runs' filters: the shared ones plus type, who ran it and system jobs; every change is a
// new URL, so a view can be shared and Back undoes it.
import { signal } from "@preact/signals";
import { useEffect } from "preact/hooks";
import { FilterForm } from "../../components/FilterForm";
import { request } from "../../services/connection";
import { runners } from "../../stores/jobs";
import { navigate, route, withParams } from "../../stores/route";
import { myPrincipalId, seesSystemJobs } from "../../stores/session";
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
  useEffect(loadJobTypes, []);
  const showSystem = params.get("system") === "1";
  const runBy = params.get("by");
  // A shared link may name a principal this tab has not seen run anything yet.
  const me = myPrincipalId.value;
  const runByName = runBy ? (runners.value.get(runBy) ?? "Chosen principal") : null;
  const others = [...runners.value]
    .filter(([id]) => id !== runBy && id !== me)
    .sort(([, a], [, b]) => a.localeCompare(b));

  return (
    <FilterForm
      label="Filter runs"
      set={set}
      after={
        seesSystemJobs.value && (
          <label class="filter filter-check">
            <input
              type="checkbox"
              name="system"
              checked={showSystem}
              onChange={(event) => set("system", event.currentTarget.checked ? "1" : null)}
            />
            <span>Show system jobs</span>
          </label>
        )
      }
    >
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
    </FilterForm>
  );
}
