// Progress split into succeeded / failed / skipped. Drawn in SVG so widths need no inline
// style (the CSP forbids them); indeterminate while the total is unknown.
import { formatCount } from "../utilities/format";

export type ProgressValues = {
  total: number | null;
  done: number;
  succeeded: number;
  failed: number;
  skipped: number;
  estimated: boolean;
};

export function ProgressBar({ progress, label }: { progress: ProgressValues; label: string }) {
  const { total, done, succeeded, failed, skipped, estimated } = progress;
  const known = total !== null && total > 0;
  const share = (part: number) => (known ? Math.min(100, (part / total) * 100) : 0);
  const parts = [
    { name: "succeeded", width: share(succeeded) },
    { name: "failed", width: share(failed) },
    { name: "skipped", width: share(skipped) },
  ];
  let x = 0;
  const outOf = total === null ? "of an unknown total" : `of ${estimated ? "about " : ""}${formatCount(total)}`;
  const text =
    `${formatCount(done)} ${outOf}: ${formatCount(succeeded)} succeeded, ` +
    `${formatCount(failed)} failed, ${formatCount(skipped)} skipped`;
  return (
    <div
      class={`progress${known ? "" : " progress-indeterminate"}`}
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={known ? total : undefined}
      aria-valuenow={known ? Math.min(done, total) : undefined}
      aria-valuetext={text}
    >
      <svg class="progress-track" viewBox="0 0 100 4" preserveAspectRatio="none" aria-hidden="true">
        {known ? (
          parts.map((part) => {
            const rect = <rect class={`progress-${part.name}`} x={x} y={0} width={part.width} height={4} />;
            x += part.width;
            return rect;
          })
        ) : (
          <rect class="progress-sweep" x={0} y={0} width={30} height={4} />
        )}
      </svg>
      <span class="progress-text">
        {formatCount(done)}
        {total !== null && ` / ${formatCount(total)}`}
        {known && total > 0 && ` · ${Math.floor((done / total) * 100)}%`}
        {estimated && (
          <abbr class="estimated" title="The total is an estimate: it may still grow">
            {" "}
            est.
          </abbr>
        )}
      </span>
    </div>
  );
}
