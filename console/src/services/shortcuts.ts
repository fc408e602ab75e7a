// The console's keyboard shortcuts: one table, one listener on the document.
// A shortcut is a single key, so it never fires while the reader types (in a field, a list box,
// an editable region) or holds Ctrl, Alt or Meta, and a reader whose speech input or screen
// reader sends such keys switches them all off in the help dialog (kept in localStorage).
//
// Screens take part through attributes, not code: a list's rows carry `data-row-id` inside a
// `data-rows` container (tabIndex -1, so focus can rest on them), and the element a shortcut
// presses or focuses carries `aria-keyshortcuts`, which also tells assistive technology its key.
import { signal } from "@preact/signals";

export type Shortcut = {
  /** The KeyboardEvent.key that triggers it. */
  key: string;
  /** How the help dialog shows the key. */
  shown: string;
  /** What it does, as the help dialog says it. */
  does: string;
  /** Acts; false when there was nothing to act on, so the key keeps its usual meaning. */
  run: () => boolean;
};

/** Every shortcut, in the order the help dialog lists them. One that acts on a row reads the
 * focused one's id from `focusedRow()?.dataset.rowId`. */
export const SHORTCUTS: readonly Shortcut[] = [
  { key: "j", shown: "j", does: "Move to the next row", run: () => moveRow(1) },
  { key: "k", shown: "k", does: "Move to the previous row", run: () => moveRow(-1) },
  { key: "Enter", shown: "Enter", does: "Open the focused row", run: openRow },
  { key: "x", shown: "x", does: "Select the focused row, or leave it", run: tickRow },
  {
    key: "Escape",
    shown: "Esc",
    does: "Close the open detail, or go up to the page it belongs to",
    run: () => press("Escape"),
  },
  { key: "/", shown: "/", does: "Search", run: () => press("/") },
  { key: "r", shown: "r", does: "Refresh", run: () => press("r") },
  { key: "?", shown: "?", does: "Show these shortcuts", run: openHelp },
];

const SETTING = "jobtower.shortcuts";

/** Whether single-key shortcuts are on (WCAG 2.1.4: a reader can switch them off). */
export const shortcutsOn = signal(readSetting());
/** Whether the help dialog is open. */
export const helpOpen = signal(false);

function readSetting(): boolean {
  try {
    return localStorage.getItem(SETTING) !== "off";
  } catch {
    return true;
  }
}

export function setShortcutsOn(on: boolean): void {
  shortcutsOn.value = on;
  try {
    localStorage.setItem(SETTING, on ? "on" : "off");
  } catch {
    // A browser that refuses storage keeps the choice for this page only.
  }
}

export function openHelp(): boolean {
  helpOpen.value = true;
  return true;
}

/** The row that holds the focus, if any: what a row shortcut acts on. */
export function focusedRow(): HTMLElement | null {
  return document.activeElement instanceof HTMLElement
    ? document.activeElement.closest<HTMLElement>("[data-row-id]")
    : null;
}

/** Moves the focus `step` rows on in the list that holds it (or that the focused box holds),
 * else in the first list shown (on a phone the Jobs page shows runs or records, not both). */
function moveRow(step: 1 | -1): boolean {
  const current = focusedRow();
  const focused = document.activeElement;
  const list =
    current?.closest("[data-rows]") ??
    focused?.querySelector("[data-rows]") ??
    [...document.querySelectorAll("[data-rows]")].find((shown) => shown.getClientRects().length > 0);
  if (!list) return false;
  const rows = [...list.querySelectorAll<HTMLElement>("[data-row-id]")];
  if (rows.length === 0) return false;
  const at = current ? rows.indexOf(current) : -1;
  const next = at === -1 ? (step > 0 ? 0 : rows.length - 1) : Math.min(rows.length - 1, Math.max(0, at + step));
  rows[next]!.focus();
  rows[next]!.scrollIntoView({ block: "nearest" });
  return true;
}

/** Enter on a row itself (not on a control inside it) follows the row's first link. */
function openRow(): boolean {
  const row = focusedRow();
  if (!row || row !== document.activeElement) return false;
  const link = row.querySelector<HTMLElement>("a[href]");
  link?.click();
  return link !== null;
}

/** Ticks or clears the focused row's own box for `x`, where the row offers one. */
function tickRow(): boolean {
  const box = focusedRow()?.querySelector<HTMLElement>('[aria-keyshortcuts="x"]');
  box?.click();
  return box != null;
}

/** Presses (or, for a field, focuses) the element that declares `key` as its shortcut; of
 * several, the last on the page: a panel's Close comes after the page's own way up. Hidden ones
 * count: the Jobs page's way back from the records only shows on a phone, yet Escape closes the
 * records at any width. */
function press(key: string): boolean {
  const target = [...document.querySelectorAll<HTMLElement>(`[aria-keyshortcuts="${key}"]`)]
    .filter((element) => !element.matches(":disabled"))
    .pop();
  if (!target) return false;
  if (target.matches("input, select, textarea")) target.focus();
  else target.click();
  return true;
}

/** Where a key means text, or a choice in a control, rather than a shortcut. */
function typing(target: EventTarget | null): boolean {
  return (
    target instanceof HTMLElement &&
    (target.isContentEditable || target.matches("input, textarea, select, [contenteditable]"))
  );
}

document.addEventListener("keydown", (event) => {
  if (!shortcutsOn.value || event.defaultPrevented || event.ctrlKey || event.altKey || event.metaKey) return;
  // Escape leaves the field "/" went to, so the row keys work again.
  if (event.key === "Escape" && event.target instanceof HTMLElement && event.target.matches('[aria-keyshortcuts="/"]')) {
    event.target.blur();
    event.preventDefault();
    return;
  }
  // A modal dialog owns the keyboard: the browser closes it on Escape.
  if (typing(event.target) || document.querySelector("dialog[open]")) return;
  const shortcut = SHORTCUTS.find((candidate) => candidate.key === event.key);
  if (shortcut?.run()) event.preventDefault();
});
