/**
 * Wall-clock arithmetic for the reboot-window e2e tests (windows.e2e.ts): which IANA zone has a
 * given local time of day right now, that zone's date and weekday, and the flag values built
 * from them. Computed here with Intl directly, not with the controller's own code
 * (@baton/protocol's window.ts), so a mistake there cannot hide in the test's expectations.
 */

/**
 * Zones without daylight-saving time (so their offset is the same all year), one for each whole
 * hour from UTC-11 to UTC+14: at any instant one of them has a local time within 30 minutes of
 * any time of day. Canonical names, so the controller reports them unchanged.
 */
export const FIXED_OFFSET_ZONES: readonly string[] = [
  'Pacific/Pago_Pago', // -11
  'Pacific/Honolulu', // -10
  'Pacific/Gambier', // -9
  'Pacific/Pitcairn', // -8
  'America/Phoenix', // -7
  'America/Regina', // -6
  'America/Bogota', // -5
  'America/La_Paz', // -4
  'America/Sao_Paulo', // -3
  'Atlantic/South_Georgia', // -2
  'Atlantic/Cape_Verde', // -1
  'Africa/Abidjan', // 0
  'Africa/Lagos', // +1
  'Africa/Johannesburg', // +2
  'Europe/Istanbul', // +3
  'Asia/Dubai', // +4
  'Asia/Tashkent', // +5
  'Asia/Dhaka', // +6
  'Asia/Bangkok', // +7
  'Asia/Singapore', // +8
  'Asia/Tokyo', // +9
  'Australia/Brisbane', // +10
  'Pacific/Noumea', // +11
  'Pacific/Fiji', // +12
  'Pacific/Tongatapu', // +13
  'Pacific/Kiritimati', // +14
];

const DAY_SECONDS = 86_400;
/** Index = weekday, 0 = Sunday (the controller's flags accept these names). */
export const DAY_NAMES = ['su', 'mo', 'tu', 'we', 'th', 'fr', 'sa'] as const;
const SHORT_WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

export interface ZoneClock {
  readonly zone: string;
  /** 0 = Sunday … 6 = Saturday, in the zone. */
  readonly weekday: number;
  /** Whole seconds since local midnight. */
  readonly seconds: number;
  /** YYYY-MM-DD in the zone. */
  readonly date: string;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The wall clock of `zone` at `now`. */
export function clockIn(zone: string, now: Date): ZoneClock {
  let f = formatters.get(zone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      weekday: 'short',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(zone, f);
  }
  const parts = Object.fromEntries(f.formatToParts(now).map((p) => [p.type, p.value]));
  return {
    zone,
    weekday: SHORT_WEEKDAYS.indexOf(parts.weekday ?? ''),
    seconds: Number(parts.hour) * 3600 + Number(parts.minute) * 60 + Number(parts.second),
    date: `${parts.year}-${parts.month}-${parts.day}`,
  };
}

/** Distance between two times of day, around the clock (23:30 and 00:30 are an hour apart). */
export function timeOfDayDistance(a: number, b: number): number {
  const d = Math.abs(a - b) % DAY_SECONDS;
  return Math.min(d, DAY_SECONDS - d);
}

/** The zone among {@link FIXED_OFFSET_ZONES} whose local time at `now` is nearest `targetSeconds`. */
export function zoneNear(targetSeconds: number, now: Date): ZoneClock {
  let best: ZoneClock | undefined;
  for (const zone of FIXED_OFFSET_ZONES) {
    const c = clockIn(zone, now);
    if (
      best === undefined ||
      timeOfDayDistance(c.seconds, targetSeconds) < timeOfDayDistance(best.seconds, targetSeconds)
    ) {
      best = c;
    }
  }
  if (best === undefined) throw new Error('no zones');
  return best;
}

/** `date` (YYYY-MM-DD) moved by `days` calendar days. */
export function addDays(date: string, days: number): string {
  const [y, m, d] = date.split('-').map(Number);
  return new Date(Date.UTC(y ?? 0, (m ?? 1) - 1, (d ?? 1) + days)).toISOString().slice(0, 10);
}

/** Every weekday but `weekday`, as a --reboot-window day list (`mo,tu,we,th,fr,sa`). */
export function otherDays(weekday: number): string {
  return DAY_NAMES.filter((_, i) => i !== weekday).join(',');
}

/**
 * A time of day `seconds` (any number, taken around the clock) as `H:MM`, rounded down to the
 * minute: `hhmm(12 * 3600 + 61)` is `12:01`, `hhmm(-3600)` is `23:00`.
 */
export function hhmm(seconds: number): string {
  const s = ((Math.floor(seconds) % DAY_SECONDS) + DAY_SECONDS) % DAY_SECONDS;
  return `${Math.floor(s / 3600)}:${String(Math.floor(s / 60) % 60).padStart(2, '0')}`;
}

/**
 * A zone among {@link FIXED_OFFSET_ZONES} whose date at `now` is not `date`, the one furthest
 * from its own midnight. Their offsets span 25 hours, so one always has another date, at least
 * 30 minutes from either midnight.
 */
export function zoneOnOtherDate(date: string, now: Date): ZoneClock {
  let best: ZoneClock | undefined;
  const margin = (c: ZoneClock) => timeOfDayDistance(c.seconds, 0);
  for (const zone of FIXED_OFFSET_ZONES) {
    const c = clockIn(zone, now);
    if (c.date !== date && (best === undefined || margin(c) > margin(best))) best = c;
  }
  if (best === undefined) throw new Error(`every zone has the date ${date}`);
  return best;
}
