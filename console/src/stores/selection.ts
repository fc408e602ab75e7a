// Which runs of the Jobs page are chosen for a bulk action: the rows ticked one by one (or a
// range of them), or every job the filter matches, loaded or not. The order of a range is the
// list's own. A new filter shows other runs, so it starts a new, empty selection.
import { computed, effect, signal } from "@preact/signals";
import { filterKey, runs, runsTotal } from "./jobs";

/** The ids ticked, in the order they were ticked. */
export const selectedIds = signal<ReadonlySet<string>>(new Set());
/** Every job the filter matches: the bulk action takes the filter, not the ids. */
export const allMatching = signal(false);
/** The row a shift-click extends the selection from: the last one clicked. */
const anchor = signal<string | null>(null);

/** How many jobs the selection stands for: the filter's total once all matching are chosen. */
export const selectionCount = computed(() => (allMatching.value ? (runsTotal.value ?? 0) : selectedIds.value.size));

/** Whether every loaded row is ticked, none, or some (the header box's three states). */
export const loadedSelection = computed<"all" | "none" | "some">(() => {
  const loaded = runs.value;
  if (allMatching.value) return loaded.length > 0 ? "all" : "none";
  const ticked = loaded.filter((row) => selectedIds.value.has(row.id)).length;
  if (ticked === 0) return "none";
  return ticked === loaded.length ? "all" : "some";
});

export function isSelected(id: string): boolean {
  return allMatching.value || selectedIds.value.has(id);
}

/** Leaving "all matching" keeps the loaded rows ticked, so one click unticks just one row. */
function explicitIds(): Set<string> {
  if (!allMatching.value) return new Set(selectedIds.value);
  allMatching.value = false;
  return new Set(runs.value.map((row) => row.id));
}

export function toggle(id: string): void {
  const ids = explicitIds();
  if (ids.has(id)) ids.delete(id);
  else ids.add(id);
  selectedIds.value = ids;
  anchor.value = id;
}

/** Ticks every row between the last one clicked and `id`, both included; with no row clicked
 * yet, just `id`. */
export function selectRange(id: string): void {
  const order = runs.value.map((row) => row.id);
  const from = anchor.value === null ? -1 : order.indexOf(anchor.value);
  const to = order.indexOf(id);
  if (to === -1) return;
  if (from === -1) {
    toggle(id);
    return;
  }
  const ids = explicitIds();
  for (const between of order.slice(Math.min(from, to), Math.max(from, to) + 1)) ids.add(between);
  selectedIds.value = ids;
  anchor.value = id;
}

/** The header box: ticks every loaded row, or unticks them all. */
export function setLoaded(ticked: boolean): void {
  if (!ticked) {
    clear();
    return;
  }
  selectedIds.value = new Set(runs.value.map((row) => row.id));
  allMatching.value = false;
}

export function selectAllMatching(): void {
  allMatching.value = true;
}

export function clear(): void {
  selectedIds.value = new Set();
  allMatching.value = false;
  anchor.value = null;
}

effect(() => {
  void filterKey.value;
  clear();
});
