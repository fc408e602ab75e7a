// A button that may be refused: while it is, it stays in place and focusable, says why (its
// accessible description and tooltip), and pressing it does nothing.
import type { ComponentChildren } from "preact";
import type { Availability } from "../utilities/actions";

type Props = {
  /** Unique on the page: the reason's element is named after it. */
  id: string;
  availability: Availability;
  onPress: () => void;
  busy?: boolean;
  class?: string;
  children: ComponentChildren;
};

export function ActionButton({ id, availability, onPress, busy, class: className, children }: Props) {
  const reasonId = `why-${id}`;
  return (
    <span class="action">
      <button
        type="button"
        class={className}
        aria-disabled={availability.enabled ? undefined : "true"}
        aria-describedby={availability.enabled ? undefined : reasonId}
        aria-busy={busy || undefined}
        title={availability.enabled ? undefined : availability.reason}
        onClick={() => {
          if (availability.enabled && !busy) onPress();
        }}
      >
        {children}
      </button>
      {!availability.enabled && (
        <span id={reasonId} class="visually-hidden">
          {availability.reason}
        </span>
      )}
    </span>
  );
}
