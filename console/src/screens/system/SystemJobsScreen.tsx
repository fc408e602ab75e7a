// The System jobs page (ADMIN and PLATFORM): the jobs the platform starts itself (pruning,
// roll-ups…), searched and filtered through the URL. Lower roles are told what it needs.
import { Header } from "../../components/Header";
import { Link } from "../../components/Link";
import { refreshSystemJobs, systemAccess } from "../../stores/systemJobs";
import { SystemJobFilters } from "./SystemJobFilters";
import { SystemJobTable } from "./SystemJobTable";

export function SystemJobsScreen() {
  const access = systemAccess.value;
  if (!access.enabled) {
    return (
      <>
        <Header />
        <main class="centered">
          <div class="card refused">
            <h1>System jobs needs the ADMIN role</h1>
            <p>
              The jobs the platform starts itself (pruning, roll-ups) are shown to admins only. {access.reason}
            </p>
            <p>
              <Link href="/jobs">Go to the jobs</Link> or <Link href="/ops">see live ops</Link>.
            </p>
          </div>
        </main>
      </>
    );
  }
  return (
    <>
      <Header>
        <button type="button" class="primary" onClick={() => void refreshSystemJobs()}>
          Refresh
        </button>
      </Header>
      <main class="detail system-jobs">
        <div class="page-title">
          <h1>System jobs</h1>
        </div>
        <SystemJobFilters />
        <SystemJobTable />
      </main>
    </>
  );
}
