// One ticking clock for every growing duration on screen; it stops while the tab is hidden.
import { signal } from "@preact/signals";

const TICK_MS = 1000;

/** performance.now() of the last tick: durations grow from when the server's value arrived. */
export const now = signal(performance.now());

let timer: number | undefined;

function start(): void {
  now.value = performance.now();
  timer = window.setInterval(() => (now.value = performance.now()), TICK_MS);
}

document.addEventListener("visibilitychange", () => {
  window.clearInterval(timer);
  if (document.visibilityState === "visible") start();
});
start();
