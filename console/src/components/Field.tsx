// A labelled form control with its hint and the error the server gave for it: the control is
// described by both, and marked invalid while the error stands.
import type { ComponentChildren, JSX } from "preact";

/** What the control must carry so the label, hint and error belong to it. */
export type ControlProps = {
  id: string;
  "aria-invalid"?: "true";
  "aria-describedby"?: string;
};

type Props = {
  id: string;
  label: string;
  hint?: ComponentChildren;
  error?: string | null;
  class?: string;
  children: (control: ControlProps) => JSX.Element;
};

export function Field({ id, label, hint, error, class: extra, children }: Props) {
  const described = [error ? `${id}-error` : null, hint ? `${id}-hint` : null].filter(Boolean).join(" ");
  return (
    <div class={`field${error ? " field-invalid" : ""}${extra ? ` ${extra}` : ""}`}>
      <label for={id}>{label}</label>
      {children({ id, "aria-invalid": error ? "true" : undefined, "aria-describedby": described || undefined })}
      {error && (
        <p id={`${id}-error`} class="field-error">
          {error}
        </p>
      )}
      {hint && (
        <p id={`${id}-hint`} class="field-hint">
          {hint}
        </p>
      )}
    </div>
  );
}
