// A status as text and icon, coloured from the one status table.
import type { Look } from "../utilities/statuses";

export function StatusLabel({ look, class: extra }: { look: Look; class?: string }) {
  return (
    <span class={`status tone-${look.tone}${extra ? ` ${extra}` : ""}`}>
      <span class="status-icon" aria-hidden="true">
        {look.icon}
      </span>
      {look.label}
    </span>
  );
}
