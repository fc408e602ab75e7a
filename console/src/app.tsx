// Which screen the URL and the session show.
import { LiveAnnouncer } from "./components/LiveAnnouncer";
import { ShortcutsHelp } from "./components/ShortcutsHelp";
import { AdminScreen } from "./screens/admin/AdminScreen";
import { AutomationsScreen } from "./screens/automations/AutomationsScreen";
import { JobScreen } from "./screens/job/JobScreen";
import { JobsScreen } from "./screens/jobs/JobsScreen";
import { NotFoundScreen } from "./screens/notfound/NotFoundScreen";
import { OpsScreen } from "./screens/ops/OpsScreen";
import { RecordScreen } from "./screens/record/RecordScreen";
import { SignInScreen } from "./screens/signin/SignInScreen";
import { StatisticsScreen } from "./screens/statistics/StatisticsScreen";
import { SystemJobsScreen } from "./screens/system/SystemJobsScreen";
import { helpOpen } from "./services/shortcuts";
import { pathId, route } from "./stores/route";
import { sessionState } from "./stores/session";

/** The console's pages; every one of them is also a deep link the server answers. */
const SCREENS: Record<string, () => preact.JSX.Element> = {
  "/": JobsScreen,
  "/jobs": JobsScreen,
  "/ops": OpsScreen,
  "/statistics": StatisticsScreen,
  "/automations": AutomationsScreen,
  "/system": SystemJobsScreen,
  "/admin": AdminScreen,
};

export function App() {
  return (
    <>
      <Current />
      <LiveAnnouncer />
      {helpOpen.value && <ShortcutsHelp />}
    </>
  );
}

function Current() {
  const state = sessionState.value;
  if (state === "signed-out" || state === "rejected") return <SignInScreen />;
  if (state === "checking") {
    return (
      <main class="centered" aria-busy="true">
        <p>Signing in…</p>
      </main>
    );
  }
  const Screen =
    SCREENS[route.value.path] ??
    (pathId("jobs") ? JobScreen : pathId("records") ? RecordScreen : NotFoundScreen);
  return <Screen />;
}
