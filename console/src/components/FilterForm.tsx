// The filters a job list shares: search, status and created days, plus what a list adds of its
// own. `set` writes one filter to the URL, so a view can be shared and Back undoes it.
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { route } from "../stores/route";
import { JOB_STATUSES, type JobStatus } from "../utilities/statuses";

type Props = {
  label: string;
  set: (name: string, value: string | null) => void;
  /** Filters between the status and the created days. */
  children?: ComponentChildren;
  /** Filters after the created days. */
  after?: ComponentChildren;
};

export function FilterForm({ label, set, children, after }: Props) {
  const params = route.value.params;
  const q = params.get("q") ?? "";
  const [search, setSearch] = useState(q);
  // Back and forward bring another search into the box. What the reader typed since the box
  // appeared stays: effects run after the first paint, and one run for the box's first search
  // too would wipe the keys typed before it ran.
  const shown = useRef(q);
  useEffect(() => {
    if (q === shown.current) return;
    shown.current = q;
    setSearch(q);
  }, [q]);
  return (
    <form
      class="filters"
      role="search"
      aria-label={label}
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
      {children}
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
      {after}
      <button type="submit" class="visually-hidden">
        Search
      </button>
    </form>
  );
}
