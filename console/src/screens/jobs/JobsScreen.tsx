// The Jobs page: runs on the left, the selected run's records on the right, Refresh on top.
import { Header } from "../../components/Header";
import { refresh, selectedId } from "../../stores/jobs";
import { Filters } from "./Filters";
import { RecordsPane } from "./RecordsPane";
import { RunList } from "./RunList";

export function JobsScreen() {
  return (
    <>
      <Header>
        <button type="button" class="primary" aria-keyshortcuts="r" onClick={refresh}>
          Refresh
        </button>
      </Header>
      <main class="jobs">
        <h1 class="visually-hidden">Jobs</h1>
        <Filters />
        <div class={`panes${selectedId.value ? " has-selection" : ""}`}>
          <RunList />
          <RecordsPane />
        </div>
      </main>
    </>
  );
}
