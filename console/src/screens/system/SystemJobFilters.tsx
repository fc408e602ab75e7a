// Search, status, created days and whether hidden entries show: every change is a new URL,
// so a reload or a shared link shows the same list and Back undoes it.
import { useEffect, useState } from "preact/hooks";
import { navigate, route, withParams } from "../../stores/route";
import { JOB_STATUSES, type JobStatus } from "../../utilities/statuses";

function set(name: string, value: string | null): void {
  navigate(route.value.path, withParams({ [name]: value || null }));
}

export function SystemJobFilters() {
  const params = route.value.params;
  const [search, setSearch] = useState(params.get("q") ?? "");
  // Back and forward bring another search into the box.
  useEffect(() => setSearch(params.get("q") ?? ""), [params.get("q")]);
  return (
    <form
      class="filters"
      role="search"
      aria-label="Filter system jobs"
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
      <label class="filter filter-check">
        <input
          type="checkbox"
          name="hidden"
          checked={params.get("hidden") === "1"}
          onChange={(event) => set("hidden", event.currentTarget.checked ? "1" : null)}
        />
        <span>Include hidden</span>
      </label>
      <button type="submit" class="visually-hidden">
        Search
      </button>
    </form>
  );
}
