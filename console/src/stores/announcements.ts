// What the console's polite live region says: jobs that ended while the reader looked elsewhere.
// A burst of endings would drown a screen reader, so it speaks at most once per GAP_MS and sums
// up what arrived meanwhile ("3 jobs finished").
import { signal } from "@preact/signals";
import type { Run } from "./jobs";

const GAP_MS = 4000;

export const announcement = signal("");

type Ending = { name: string; how: string };

let waiting: Ending[] = [];
let quietUntil = 0;
let timer: ReturnType<typeof setTimeout> | null = null;

function how(run: Run): string {
  if (run.status === "FAILED") return "failed";
  if (run.status === "CANCELED") return "canceled";
  return run.outcome === "WITH_ERRORS" ? "finished with errors" : "finished";
}

function said(endings: Ending[]): string {
  if (endings.length === 1) return `Job ${endings[0]!.name} ${endings[0]!.how}`;
  const counts = new Map<string, number>();
  for (const ending of endings) counts.set(ending.how, (counts.get(ending.how) ?? 0) + 1);
  if (counts.size === 1) return `${endings.length} jobs ${endings[0]!.how}`;
  return `${endings.length} jobs ended: ${[...counts].map(([word, count]) => `${count} ${word}`).join(", ")}`;
}

/** Speaks what waited, then stays quiet for a gap; an empty region after it lets the same
 * sentence be spoken again. */
function speak(): void {
  timer = null;
  if (waiting.length === 0) {
    announcement.value = "";
    return;
  }
  announcement.value = said(waiting);
  waiting = [];
  quietUntil = performance.now() + GAP_MS;
  timer = setTimeout(speak, GAP_MS);
}

/** A job the reader sees has just ended. */
export function jobEnded(run: Run): void {
  waiting.push({ name: run.name, how: how(run) });
  if (timer === null) timer = setTimeout(speak, Math.max(0, quietUntil - performance.now()));
}
