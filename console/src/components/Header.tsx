// The bar above every signed-in screen: where you are, who you are, the live state, actions.
import type { ComponentChildren } from "preact";
import { liveState, type LiveState } from "../services/connection";
import { signOut, viewer } from "../stores/session";

const LIVE_LABELS: Record<LiveState, string> = {
  idle: "Offline",
  connecting: "Connecting",
  live: "Live",
  paused: "Paused",
  reconnecting: "Reconnecting",
};

export function Header({ children }: { children?: ComponentChildren }) {
  const who = viewer.value;
  const live = liveState.value;
  return (
    <header class="top">
      <a class="brand" href="/jobs">
        <span class="brand-mark" aria-hidden="true">
          ┼
        </span>{" "}
        Jobtower
      </a>
      <div class="top-actions">
        {children}
        <span class={`live live-${live}`} role="status" aria-label="Updates">
          <span class="live-dot" aria-hidden="true" />
          {LIVE_LABELS[live]}
        </span>
      </div>
      {who && (
        <div class="who" aria-label="Signed in as">
          <span class="who-tenant">{who.tenant.name}</span>
          <span class="who-role">{who.role}</span>
          <button type="button" class="quiet" onClick={signOut}>
            Sign out
          </button>
        </div>
      )}
    </header>
  );
}
