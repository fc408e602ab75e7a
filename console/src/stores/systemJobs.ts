// The System jobs page's state: the jobs of the platform's system job types that the search
// and filters in the URL show, a page at a time, and the two verbs its rows offer (Delete
// entry hides a job from the lists, Unhide brings it back).
import { batch, computed, effect, signal, untracked } from "@preact/signals";
import type { ResultOf, VariablesOf } from "../graphql";
import { SystemJobFields, SystemJobsQuery, SystemJobTypesQuery } from "../screens/system/documents";
import { ApiError, request } from "../services/connection";
import { needsRole } from "../utilities/actions";
import { localDayStart } from "../utilities/days";
import type { JobStatus } from "../utilities/statuses";
import { perform } from "./actions";
import type { LoadState } from "./jobs";
import { route } from "./route";
import { sessionState, viewer } from "./session";

const SYSTEM_JOBS_PATH = "/system";
const PAGE = 50;

export type SystemJob = ResultOf<typeof SystemJobFields>;
type SystemJobFilter = VariablesOf<typeof SystemJobsQuery>["filter"];

/** Only admins see system jobs; below ADMIN the page says so. */
export const systemAccess = computed(() => needsRole("ADMIN", viewer.value?.role));

/** The search and filters, read from the URL (q, status, from, to, hidden). */
export const systemView = computed(() => {
  const params = route.value.params;
  return {
    search: params.get("q") || null,
    status: (params.get("status") as JobStatus | null) || null,
    createdAfter: localDayStart(params.get("from")),
    createdBefore: localDayStart(params.get("to"), 1),
    includeHidden: params.get("hidden") === "1",
  };
});
const viewKey = computed(() => JSON.stringify(systemView.value));

/** The job types by name, with the platform's system ones among them; empty until loaded. */
export const jobTypes = signal<ResultOf<typeof SystemJobTypesQuery>["jobTypes"]>([]);
const systemTypes = computed(() => jobTypes.value.filter((type) => type.system).map((type) => type.name));

export const systemJobs = signal<SystemJob[]>([]);
export const systemJobsTotal = signal<number | null>(null);
export const systemJobsState = signal<LoadState>("loading");
export const systemJobsError = signal<string | null>(null);
export const moreSystemJobs = signal<string | null>(null);

const onPage = computed(() => route.value.path === SYSTEM_JOBS_PATH);

let generation = 0;

function filter(): SystemJobFilter {
  const view = systemView.value;
  return {
    // The jobs of the system types: the API lists them to admins when asked to.
    includeSystem: true,
    type: systemTypes.value,
    includeHidden: view.includeHidden || null,
    status: view.status ? [view.status] : null,
    search: view.search,
    createdAfter: view.createdAfter,
    createdBefore: view.createdBefore,
  };
}

/** The header's Refresh, and every new filter: the first page again from the server. */
export async function refreshSystemJobs(): Promise<void> {
  const current = ++generation;
  systemJobsState.value = "loading";
  try {
    if (jobTypes.value.length === 0) {
      const { jobTypes: listed } = await request(SystemJobTypesQuery, {});
      if (current !== generation) return;
      jobTypes.value = listed;
    }
    if (systemTypes.value.length === 0) {
      // A platform without system job types has no system jobs; the API would read an empty
      // type list as no type filter at all.
      batch(() => {
        systemJobs.value = [];
        systemJobsTotal.value = 0;
        moreSystemJobs.value = null;
        systemJobsError.value = null;
        systemJobsState.value = "ready";
      });
      return;
    }
    const { jobs } = await request(SystemJobsQuery, { first: PAGE, after: null, filter: filter() });
    if (current !== generation) return;
    batch(() => {
      systemJobs.value = jobs.edges.map((edge) => edge.node);
      systemJobsTotal.value = jobs.totalCount;
      moreSystemJobs.value = jobs.pageInfo.hasNextPage ? jobs.pageInfo.endCursor : null;
      systemJobsError.value = null;
      systemJobsState.value = "ready";
    });
  } catch (error) {
    if (current !== generation) return;
    systemJobsError.value = error instanceof ApiError ? error.message : String(error);
    systemJobsState.value = "error";
  }
}

/** Appends the next page below the rows already shown. */
export async function loadMoreSystemJobs(): Promise<void> {
  const after = moreSystemJobs.value;
  if (!after) return;
  const current = generation;
  const { jobs } = await request(SystemJobsQuery, { first: PAGE, after, filter: filter() });
  if (current !== generation) return;
  const known = new Set(systemJobs.value.map((job) => job.id));
  batch(() => {
    systemJobs.value = [...systemJobs.value, ...jobs.edges.map((edge) => edge.node).filter((job) => !known.has(job.id))];
    moreSystemJobs.value = jobs.pageInfo.hasNextPage ? jobs.pageInfo.endCursor : null;
  });
}

/** Hides (`hide`) or unhides a job; null when done, else the API's refusal in words. A job
 * hidden while hidden ones are not listed leaves the list, as the next refresh would show it. */
export async function setHidden(action: "hide" | "unhide", id: string): Promise<string | null> {
  const outcome = await perform(action, id);
  if ("error" in outcome) return outcome.error;
  if (!("job" in outcome)) return null;
  const changed: SystemJob = outcome.job;
  batch(() => {
    if (changed.hidden && !systemView.value.includeHidden) {
      systemJobs.value = systemJobs.value.filter((job) => job.id !== id);
      if (systemJobsTotal.value !== null) systemJobsTotal.value -= 1;
    } else {
      systemJobs.value = systemJobs.value.map((job) => (job.id === id ? changed : job));
    }
  });
  return null;
}

// Signed out, the list is forgotten: the next sign-in may be another tenant's admin.
effect(() => {
  if (sessionState.value === "signed-in") return;
  generation += 1;
  batch(() => {
    jobTypes.value = [];
    systemJobs.value = [];
    systemJobsTotal.value = null;
    moreSystemJobs.value = null;
    systemJobsState.value = "loading";
  });
});

effect(() => {
  void viewKey.value;
  if (sessionState.value !== "signed-in" || !onPage.value || !systemAccess.value.enabled) return;
  untracked(() => void refreshSystemJobs());
});
