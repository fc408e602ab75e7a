// The days a date input names (YYYY-MM-DD), read in the browser's time zone: the day the
// reader means when they pick it.

/** The start of `value`'s day, `offsetDays` later, as an ISO instant; null for no valid day. */
export function localDayStart(value: string | null, offsetDays = 0): string | null {
  if (!value || !/^\d{4}-\d{2}-\d{2}$/.test(value)) return null;
  const moment = new Date(`${value}T00:00:00`);
  if (Number.isNaN(moment.getTime())) return null;
  moment.setDate(moment.getDate() + offsetDays);
  return moment.toISOString();
}
