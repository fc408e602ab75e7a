// The Live ops page's state: the summary the liveOps subscription pushes whenever it changes.
// The subscription answers with the summary at once, and again after every reconnect.
import { batch, computed, effect, signal, untracked } from "@preact/signals";
import type { ResultOf } from "../graphql";
import { LiveOpsUpdates } from "../screens/ops/documents";
import { subscribe } from "../services/connection";
import { route } from "./route";
import { sessionState } from "./session";

export const OPS_PATH = "/ops";

export type LiveOps = ResultOf<typeof LiveOpsUpdates>["liveOps"];
export type ListedJob = LiveOps["stalledJobs"][number];

export const summary = signal<LiveOps | null>(null);
/** When the summary shown arrived (Date.now()). */
export const summaryAt = signal<number | null>(null);

const onScreen = computed(() => sessionState.value === "signed-in" && route.value.path === OPS_PATH);

effect(() => {
  if (!onScreen.value) return;
  return untracked(() =>
    subscribe(LiveOpsUpdates, () => ({}), {
      next: (data) =>
        batch(() => {
          summary.value = data.liveOps;
          summaryAt.value = Date.now();
        }),
      // A new subscription starts with the summary as it is now: nothing to catch up on.
      resumed: () => {},
    }),
  );
});
