// The bar above every signed-in screen: where you are, who you are, the live state, actions.
import type { ComponentChildren } from "preact";
import { liveState, type LiveState } from "../services/connection";
import { openHelp } from "../services/shortcuts";
import { route } from "../stores/route";
import { signOut, viewer } from "../stores/session";
import { needsRole } from "../utilities/actions";
import type { Role } from "../utilities/statuses";
import { Link } from "./Link";

/** The console's sections; a section is current on its own pages (a job is one of the Jobs).
 * A section for a role shows to that role and above; others reach it only by its URL. */
const SECTIONS: { href: string; label: string; current: RegExp; role?: Role }[] = [
  { href: "/jobs", label: "Jobs", current: /^\/(jobs|records)?(\/|$)/ },
  { href: "/ops", label: "Live ops", current: /^\/ops$/ },
  { href: "/statistics", label: "Statistics", current: /^\/statistics$/ },
  { href: "/automations", label: "Automations", current: /^\/automations$/ },
  { href: "/system", label: "System", current: /^\/system$/, role: "ADMIN" },
  { href: "/admin", label: "Admin", current: /^\/admin$/ },
];

const LIVE_LABELS: Record<LiveState, string> = {
  idle: "Offline",
  connecting: "Connecting",
  live: "Live",
  paused: "Paused",
  reconnecting: "Reconnecting",
  interrupted: "Interrupted",
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
      <nav class="sections" aria-label="Sections">
        {SECTIONS.filter((section) => !section.role || needsRole(section.role, who?.role).enabled).map((section) => (
          <Link href={section.href} current={section.current.test(route.value.path)}>
            {section.label}
          </Link>
        ))}
      </nav>
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
          {/* A single glyph: the header stays on one line at 1280 px. */}
          <button type="button" class="quiet" aria-keyshortcuts="?" title="Keyboard shortcuts" onClick={openHelp}>
            <span aria-hidden="true">?</span>
            <span class="visually-hidden">Keyboard shortcuts</span>
          </button>
          <button type="button" class="quiet" onClick={signOut}>
            Sign out
          </button>
        </div>
      )}
    </header>
  );
}
