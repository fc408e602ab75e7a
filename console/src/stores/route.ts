// The URL is the state a user shares: which screen, its search and filters, the selected run.
// Back and forward move through it like any page's history.
import { signal } from "@preact/signals";

export type Location = { path: string; params: URLSearchParams };

function current(): Location {
  return { path: location.pathname, params: new URLSearchParams(location.search) };
}

export const route = signal<Location>(current());

window.addEventListener("popstate", () => {
  route.value = current();
});

/** Goes to `path` with `params` (empty values dropped); `replace` keeps history as it is. */
export function navigate(path: string, params: Record<string, string | null | undefined>, replace = false): void {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value) search.set(name, value);
  }
  const query = search.toString();
  const url = query ? `${path}?${query}` : path;
  if (url === location.pathname + location.search) return;
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  route.value = current();
}

/** The current params with `changes` applied (null removes one). */
export function withParams(changes: Record<string, string | null>): Record<string, string | null> {
  const params: Record<string, string | null> = Object.fromEntries(route.value.params);
  return { ...params, ...changes };
}

/** The id a detail page's path names (`/jobs/<id>`, `/records/<id>`), or null on other pages. */
export function pathId(section: "jobs" | "records"): string | null {
  const match = new RegExp(`^/${section}/([^/]+)$`).exec(route.value.path);
  return match ? decodeURIComponent(match[1]) : null;
}
