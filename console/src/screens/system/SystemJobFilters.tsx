// The system jobs' filters, and whether hidden entries show: every change is a new URL, so a
// reload or a shared link shows the same list and Back undoes it.
import { FilterForm } from "../../components/FilterForm";
import { navigate, route, withParams } from "../../stores/route";

function set(name: string, value: string | null): void {
  navigate(route.value.path, withParams({ [name]: value || null }));
}

export function SystemJobFilters() {
  return (
    <FilterForm
      label="Filter system jobs"
      set={set}
      after={
        <label class="filter filter-check">
          <input
            type="checkbox"
            name="hidden"
            checked={route.value.params.get("hidden") === "1"}
            onChange={(event) => set("hidden", event.currentTarget.checked ? "1" : null)}
          />
          <span>Include hidden</span>
        </label>
      }
    />
  );
}
