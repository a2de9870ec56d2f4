/**
 * Whether reboots may start at a given instant: the reboot windows in their time zone, minus
 * blackout dates. Pure and shared (the controller gates on it, the CLI explains it).
 *
 * Like kured, the weekday that counts is the calendar day of the instant itself, also for a
 * window that wraps past midnight: `fr 22:00-02:00` is open Friday 22:00–24:00 and — only if
 * Saturday is listed too — Saturday 00:00–02:00. Wall-clock times are read in the zone, so a
 * daylight-saving change moves the window with the clocks, as people expect.
 */
import type { RebootWindow } from './config/time.ts';

export interface LocalTime {
  /** 0 = Sunday … 6 = Saturday. */
  readonly weekday: number;
  /** Seconds since local midnight, with fractions. */
  readonly seconds: number;
  /** YYYY-MM-DD, local. */
  readonly date: string;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

/** The wall-clock time of `instant` in `timeZone` (an IANA name or UTC). */
export function localTime(instant: Date, timeZone: string): LocalTime {
  let f = formatters.get(timeZone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      weekday: 'short',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  const parts: Record<string, string> = {};
  for (const p of f.formatToParts(instant)) parts[p.type] = p.value;
  const seconds =
    Number(parts.hour) * 3600 +
    Number(parts.minute) * 60 +
    Number(parts.second) +
    instant.getUTCMilliseconds() / 1000;
  return {
    weekday: WEEKDAYS.indexOf(parts.weekday ?? ''),
    seconds,
    date: `${parts.year}-${parts.month}-${parts.day}`,
  };
}

/** True when `t` (seconds since local midnight) is inside the window's times; the end second is included. */
function inTimes(w: RebootWindow, t: number): boolean {
  const endExclusive = w.endSeconds + 1;
  return w.startSeconds <= w.endSeconds
    ? t >= w.startSeconds && t < endExclusive
    : t >= w.startSeconds || t < endExclusive;
}

export type WindowVerdict =
  | { readonly open: true }
  | { readonly open: false; readonly why: 'OutsideWindow' | 'BlackoutDate'; readonly detail: string };

export function windowVerdict(
  windows: readonly RebootWindow[],
  timeZone: string,
  blackoutDates: readonly string[],
  now: Date,
): WindowVerdict {
  const local = localTime(now, timeZone);
  if (blackoutDates.includes(local.date)) {
    return { open: false, why: 'BlackoutDate', detail: `${local.date} is a blackout date (${timeZone})` };
  }
  if (windows.some((w) => w.days.includes(local.weekday) && inTimes(w, local.seconds))) return { open: true };
  return {
    open: false,
    why: 'OutsideWindow',
    detail: `outside every reboot window (${WEEKDAYS[local.weekday]} ${local.date}, ${timeZone})`,
  };
}
