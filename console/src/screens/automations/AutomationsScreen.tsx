// The Automations page: the tenant's schedules, what each runs and when, its last runs, and
// (for admins) run now, create, edit, enable or disable, delete.
import { useState } from "preact/hooks";
import { ActionButton } from "../../components/ActionButton";
import { Header } from "../../components/Header";
import {
  automationsError,
  automationsState,
  refreshAutomations,
  schedules,
  type Schedule,
} from "../../stores/automations";
import { viewer } from "../../stores/session";
import { needsRole } from "../../utilities/actions";
import { ScheduleCard } from "./ScheduleCard";
import { ScheduleForm, savedSentence } from "./ScheduleForm";

export function AutomationsScreen() {
  const [creating, setCreating] = useState(false);
  const [said, setSaid] = useState<string | null>(null);
  const access = needsRole("ADMIN", viewer.value?.role);
  const listed = schedules.value;
  const state = automationsState.value;

  function created(schedule: Schedule) {
    setCreating(false);
    setSaid(savedSentence(schedule));
  }

  return (
    <>
      <Header>
        <button type="button" class="primary" aria-keyshortcuts="r" onClick={() => void refreshAutomations()}>
          Refresh
        </button>
      </Header>
      <main class="detail automations">
        <div class="page-title">
          <h1>Automations</h1>
          <span class="count">{state === "ready" && `${listed.length} ${listed.length === 1 ? "schedule" : "schedules"}`}</span>
          <ActionButton
            id="new-schedule"
            class="primary"
            availability={creating ? { enabled: false, reason: "The form is open below." } : access}
            onPress={() => {
              setSaid(null);
              setCreating(true);
            }}
          >
            New automation
          </ActionButton>
        </div>
        {!access.enabled && (
          <p class="hint">Admins manage automations: you can see them and their runs. {access.reason}</p>
        )}
        {creating && <ScheduleForm original={null} onSaved={created} onCancel={() => setCreating(false)} />}
        <p class="action-said" role="status">
          {said}
        </p>
        {state === "error" && (
          <p class="notice notice-danger" role="alert">
            {automationsError.value}
          </p>
        )}
        {state === "loading" && <p class="empty">Loading the automations…</p>}
        {state === "ready" && listed.length === 0 && <p class="empty">No automation yet.</p>}
        {listed.length > 0 && (
          <ul class="schedules" aria-label="Automations">
            {listed.map((schedule) => (
              <ScheduleCard
                key={schedule.id}
                schedule={schedule}
                access={access}
                onDeleted={() => setSaid(`Deleted “${schedule.name}”. The jobs it started stay, with their logs.`)}
              />
            ))}
          </ul>
        )}
      </main>
    </>
  );
}
