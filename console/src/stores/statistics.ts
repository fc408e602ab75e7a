// The Statistics page's state: the range, bucket size, tenant and type the URL names, and the
// buckets the API answers for them. Times are UTC, as the API's buckets are.
import { batch, computed, effect, signal, untracked } from "@preact/signals";
import type { ResultOf } from "../graphql";
import { StatisticsChoicesQuery, StatisticsQuery } from "../screens/statistics/documents";
import { ApiError, request } from "../services/connection";
import type { LoadState } from "./jobs";
import { route } from "./route";
import { seesAllTenants, sessionState } from "./session";

export const STATISTICS_PATH = "/statistics";

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** The ranges a click away; each ends with the bucket that holds now. */
export const PRESETS = {
  "24h": { label: "24 h", ms: DAY_MS },
  "7d": { label: "7 days", ms: 7 * DAY_MS },
  "30d": { label: "30 days", ms: 30 * DAY_MS },
  "90d": { label: "90 days", ms: 90 * DAY_MS },
} as const;
export type Preset = keyof typeof PRESETS;
export const DEFAULT_PRESET: Preset = "7d";

export type BucketSize = "HOUR" | "DAY";
export type StatsBucket = ResultOf<typeof StatisticsQuery>["jobStatistics"]["buckets"][number];

/** What the URL asks for: a preset (`range`) or UTC days (`from`, `to`, both included), a
 * bucket size (`bucket`: hour or day, else hours up to a week), `tenant` and `type`. */
export type StatisticsView = {
  preset: Preset | null;
  from: string;
  to: string;
  bucket: BucketSize;
  tenantId: string | null;
  type: string | null;
};

const DAY_PATTERN = /^\d{4}-\d{2}-\d{2}$/;

function utcDay(value: string | null): number | null {
  if (!value || !DAY_PATTERN.test(value)) return null;
  const moment = Date.parse(`${value}T00:00:00Z`);
  return Number.isNaN(moment) ? null : moment;
}

/** The day of an instant as the date inputs show it (UTC). */
export function dayOf(moment: string): string {
  return moment.slice(0, 10);
}

/** Bumped by Refresh: a preset range is measured from now again. */
const refreshedAt = signal(Date.now());

/** The view the URL names, or why it names none (a range that ends before it starts). */
export const view = computed<StatisticsView | { problem: string }>(() => {
  const params = route.value.params;
  const asked = params.get("bucket");
  const chosen: BucketSize | null = asked === "hour" ? "HOUR" : asked === "day" ? "DAY" : null;
  const filters = { tenantId: params.get("tenant") || null, type: params.get("type") || null };
  const fromDay = utcDay(params.get("from"));
  const toDay = utcDay(params.get("to"));
  if (fromDay !== null && toDay !== null) {
    if (toDay < fromDay) return { problem: "The range ends before it starts." };
    const end = toDay + DAY_MS;
    const bucket = chosen ?? (end - fromDay <= 7 * DAY_MS ? "HOUR" : "DAY");
    return {
      preset: null,
      from: new Date(fromDay).toISOString(),
      to: new Date(end).toISOString(),
      bucket,
      ...filters,
    };
  }
  const preset = (params.get("range") as Preset | null) ?? DEFAULT_PRESET;
  const span = PRESETS[preset]?.ms ?? PRESETS[DEFAULT_PRESET].ms;
  const bucket = chosen ?? (span <= 7 * DAY_MS ? "HOUR" : "DAY");
  // Whole buckets: the range ends where the bucket holding now ends.
  const step = bucket === "HOUR" ? HOUR_MS : DAY_MS;
  const end = Math.floor(refreshedAt.value / step) * step + step;
  return {
    preset: preset in PRESETS ? preset : DEFAULT_PRESET,
    from: new Date(end - span).toISOString(),
    to: new Date(end).toISOString(),
    bucket,
    ...filters,
  };
});

export const buckets = signal<StatsBucket[]>([]);
/** The view the buckets shown belong to. */
export const shownView = signal<StatisticsView | null>(null);
export const statisticsState = signal<LoadState>("loading");
export const statisticsError = signal<string | null>(null);

let generation = 0;

async function load(wanted: StatisticsView): Promise<void> {
  const current = ++generation;
  statisticsState.value = "loading";
  try {
    const data = await request(StatisticsQuery, {
      from: wanted.from,
      to: wanted.to,
      bucket: wanted.bucket,
      tenantId: wanted.tenantId,
      type: wanted.type,
    });
    if (current !== generation) return;
    batch(() => {
      buckets.value = data.jobStatistics.buckets;
      shownView.value = wanted;
      statisticsError.value = null;
      statisticsState.value = "ready";
    });
  } catch (error) {
    if (current !== generation) return;
    batch(() => {
      buckets.value = [];
      shownView.value = null;
      statisticsError.value = error instanceof ApiError ? error.message : String(error);
      statisticsState.value = "error";
    });
  }
}

/** The header's Refresh: a preset range moves on to now, and everything is asked again. */
export function refreshStatistics(): void {
  refreshedAt.value = Date.now();
}

const onScreen = computed(() => sessionState.value === "signed-in" && route.value.path === STATISTICS_PATH);
const viewKey = computed(() => JSON.stringify(view.value));

effect(() => {
  void viewKey.value;
  void refreshedAt.value;
  if (!onScreen.value) return;
  untracked(() => {
    const wanted = view.value;
    if ("problem" in wanted) {
      batch(() => {
        buckets.value = [];
        shownView.value = null;
        statisticsError.value = wanted.problem;
        statisticsState.value = "error";
      });
    } else void load(wanted);
  });
});

// ------------------------------------------------------------------ what the filters offer

export type TenantChoice = { id: string; slug: string; name: string };
export const jobTypes = signal<{ name: string; system: boolean }[]>([]);
export const tenants = signal<TenantChoice[]>([]);
let choicesFor: string | null = null;

effect(() => {
  if (!onScreen.value) return;
  const platform = seesAllTenants.value;
  const key = String(platform);
  if (choicesFor === key) return;
  choicesFor = key;
  request(StatisticsChoicesQuery, { platform }).then(
    (data) =>
      batch(() => {
        jobTypes.value = data.jobTypes;
        tenants.value = data.tenants ?? [];
      }),
    () => (choicesFor = null),
  );
});

// ------------------------------------------------------------------ the range's totals

export type Totals = {
  created: number;
  started: number;
  finished: number;
  failed: number;
  recordsProcessed: number;
  /** The average wait of every job started in the range: bucket averages weighted by starts. */
  waitAvg: number | null;
};

export const totals = computed<Totals>(() => {
  const sum = { created: 0, started: 0, finished: 0, failed: 0, recordsProcessed: 0, waited: 0 };
  for (const bucket of buckets.value) {
    sum.created += bucket.created;
    sum.started += bucket.started;
    sum.finished += bucket.finished;
    sum.failed += bucket.failed;
    sum.recordsProcessed += bucket.recordsProcessed;
    sum.waited += (bucket.waitAvg ?? 0) * bucket.started;
  }
  const { waited, ...counts } = sum;
  return { ...counts, waitAvg: sum.started ? waited / sum.started : null };
});
