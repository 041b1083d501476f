/** Alipay speaks Beijing time (UTC+8, no daylight saving) as `yyyy-MM-dd HH:mm:ss`, whatever the host's zone. */
const BEIJING_OFFSET_MS = 8 * 60 * 60 * 1000;

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** Formats an instant as Alipay's `timestamp` / `time_expire`, e.g. `2026-11-25 21:02:44`. */
export function beijingTime(at: Date): string {
  const d = new Date(at.getTime() + BEIJING_OFFSET_MS);
  return (
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`
  );
}

/** The Beijing calendar day of an instant, `yyyy-MM-dd` (what a statement's `bill_date` names). */
export function beijingDate(at: Date): string {
  return beijingTime(at).slice(0, 10);
}

/** A `yyyy-MM-dd` Beijing calendar day as the instants [start, end); null when the text is not such a day. */
export function beijingDayRange(day: string): { start: Date; end: Date } | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  if (!m) return null;
  const utc = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  if (new Date(utc).toISOString().slice(0, 10) !== day) return null;
  return { start: new Date(utc - BEIJING_OFFSET_MS), end: new Date(utc - BEIJING_OFFSET_MS + 86_400_000) };
}

const FORMAT = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/;

/** Parses Alipay's Beijing-time text into an instant; null when it is not a valid `yyyy-MM-dd HH:mm:ss`. */
export function parseBeijingTime(text: string): Date | null {
  const m = FORMAT.exec(text);
  if (!m) return null;
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number);
  const utc = Date.UTC(year, month - 1, day, hour, minute, second);
  const check = new Date(utc);
  if (
    check.getUTCFullYear() !== year ||
    check.getUTCMonth() !== month - 1 ||
    check.getUTCDate() !== day ||
    hour > 23 ||
    minute > 59 ||
    second > 59
  ) {
    return null;
  }
  return new Date(utc - BEIJING_OFFSET_MS);
}
