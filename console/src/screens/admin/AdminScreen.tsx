// The Admin page (ADMIN and PLATFORM): the tenant's API tokens, its monthly limits against this
// month's usage, and the Sync Size of each job type. Lower roles are told what it needs.
import { Header } from "../../components/Header";
import { Link } from "../../components/Link";
import { adminAccess, adminError, adminState, refreshAdmin } from "../../stores/admin";
import { viewer } from "../../stores/session";
import { Plan } from "./Plan";
import { SyncSizes } from "./SyncSizes";
import { Tokens } from "./Tokens";

export function AdminScreen() {
  const access = adminAccess.value;
  if (!access.enabled) {
    return (
      <>
        <Header />
        <main class="centered">
          <div class="card refused">
            <h1>Admin needs the ADMIN role</h1>
            <p>
              API tokens, limits and Sync Sizes of {viewer.value?.tenant.name ?? "the tenant"} are managed by its
              admins. {access.reason}
            </p>
            <p>
              <Link href="/jobs">Go to the jobs</Link> or <Link href="/automations">see the automations</Link>.
            </p>
          </div>
        </main>
      </>
    );
  }
  const state = adminState.value;
  return (
    <>
      <Header>
        <button type="button" class="primary" aria-keyshortcuts="r" onClick={() => void refreshAdmin()}>
          Refresh
        </button>
      </Header>
      <main class="detail admin">
        <div class="page-title">
          <h1>Admin</h1>
          <span class="count">{viewer.value?.tenant.name}</span>
        </div>
        {state === "error" && (
          <p class="notice notice-danger" role="alert">
            {adminError.value}
          </p>
        )}
        {state === "loading" && <p class="empty">Loading…</p>}
        {state !== "loading" && (
          <>
            <Tokens />
            <div class="admin-grid">
              <Plan />
              <SyncSizes />
            </div>
          </>
        )}
      </main>
    </>
  );
}
