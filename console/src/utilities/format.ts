// How numbers, times and durations read on screen.
const count = new Intl.NumberFormat();
const time = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const dayAndTime = new Intl.DateTimeFormat(undefined, {
  day: "numeric",
  month: "short",
  hour: "2-digit",
  minute: "2-digit",
});

export function formatCount(value: number): string {
  return count.format(value);
}

// Moments already formatted, for the day they were formatted on: a list that scrolls draws the
// same rows again and again, each with three moments.
const MOMENTS_KEPT = 5000;
let momentsDay = "";
const moments = new Map<string, string>();

/** Today's times to the second, older ones with their day. */
export function formatMoment(iso: string | null | undefined): string {
  if (!iso) return "—";
  const today = new Date().toDateString();
  if (today !== momentsDay || moments.size >= MOMENTS_KEPT) {
    momentsDay = today;
    moments.clear();
  }
  let shown = moments.get(iso);
  if (shown === undefined) {
    const moment = new Date(iso);
    shown = moment.toDateString() === today ? time.format(moment) : dayAndTime.format(moment);
    moments.set(iso, shown);
  }
  return shown;
}

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds == null) return "—";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  const whole = Math.floor(seconds);
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const rest = whole % 60;
  if (hours > 0) return `${hours} h ${String(minutes).padStart(2, "0")} min`;
  if (minutes > 0) return `${minutes} min ${String(rest).padStart(2, "0")} s`;
  return `${rest} s`;
}

/** A moment in UTC, to the minute: "2026-12-02 07:00 UTC". */
export function formatUtc(iso: string | null | undefined): string {
  if (!iso) return "—";
  const moment = new Date(iso);
  return Number.isNaN(moment.getTime()) ? "—" : `${moment.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/**
 * A wall-clock time as the server wrote it for a time zone (ISO 8601 with that zone's offset),
 * to the minute and with the offset: "2026-12-02 08:00 (UTC+01:00)". Read as written, never
 * moved into the browser's own zone.
 */
export function formatWallClock(local: string | null | undefined): string {
  const match = local ? /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(?::\d{2}(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.exec(local) : null;
  if (!match) return "—";
  const [, day, minute, offset] = match;
  return `${day} ${minute} (UTC${offset === "Z" ? "" : offset})`;
}
