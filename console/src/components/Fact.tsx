// One labelled figure of a facts list (dl): its label, and its value or a dash.
export function Fact({ label, value, class: extra }: { label: string; value: string; class?: string }) {
  return (
    <div class={`fact${extra ? ` ${extra}` : ""}`}>
      <dt>{label}</dt>
      <dd aria-label={label}>{value || "—"}</dd>
    </div>
  );
}
