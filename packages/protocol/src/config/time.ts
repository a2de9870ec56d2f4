/**
 * Time values: durations, times of day, weekdays, time zones, reboot windows and dates.
 *
 * The syntaxes are kured's (Go's `time.ParseDuration`, kured's six time-of-day layouts, its
 * weekday names) so a kured configuration carries over, with the few places kured silently did
 * something surprising turned into errors (an empty day list meant "never"; `d` is no unit).
 */
import { InvalidValueError, type ValueType, valueType } from './values.ts';

// ---------------------------------------------------------------------------------------------
// Durations
// ---------------------------------------------------------------------------------------------

/** Milliseconds per unit. Go also has ns and us; nothing baton waits for is that short. */
const UNIT_MS: Readonly<Record<string, bigint>> = { ms: 1n, s: 1000n, m: 60_000n, h: 3_600_000n };

const DURATION_EXPECTED = 'a duration such as 30s, 5m or 1h30m';

/**
 * Go duration syntax (`0`, `500ms`, `30s`, `1h30m`, `1.5h`) → whole milliseconds.
 * Units: ms, s, m, h. Negative durations, missing units, `d` and sub-millisecond precision are
 * refused. BigInt arithmetic keeps `1.1s` exactly 1100 ms.
 */
export function parseDuration(text: string): number {
  if (text === '0') return 0;
  if (text === '') throw new InvalidValueError('it is empty');
  if (text.startsWith('-')) throw new InvalidValueError('negative durations are not allowed');
  if (/^[0-9.]+$/.test(text))
    throw new InvalidValueError('a unit is required; only 0 may be written without one');
  const part = /([0-9]*)(?:\.([0-9]*))?([^0-9.]+)/y;
  let total = 0n;
  while (part.lastIndex < text.length) {
    const start = part.lastIndex;
    const match = part.exec(text);
    if (!match || match.index !== start) throw new InvalidValueError('');
    const [, whole = '', fraction = '', unit = ''] = match;
    if (whole === '' && fraction === '') throw new InvalidValueError('');
    const unitMs = UNIT_MS[unit];
    if (unitMs === undefined) {
      if (unit === 'd') throw new InvalidValueError('"d" (days) is not a unit here: write 24h for a day');
      if (['ns', 'us', 'µs', 'μs'].includes(unit))
        throw new InvalidValueError(`"${unit}" is finer than baton counts`);
      throw new InvalidValueError('');
    }
    const scale = 10n ** BigInt(fraction.length);
    const fractionMs = BigInt(fraction === '' ? '0' : fraction) * unitMs;
    if (fractionMs % scale !== 0n) throw new InvalidValueError('durations are counted in whole milliseconds');
    total += BigInt(whole === '' ? '0' : whole) * unitMs + fractionMs / scale;
  }
  if (total > BigInt(Number.MAX_SAFE_INTEGER)) throw new InvalidValueError('too long');
  return Number(total);
}

export const duration: ValueType<number> = valueType(DURATION_EXPECTED, parseDuration);

/**
 * The longest delay Node's timers hold: 2^31-1 ms, about 24.8 days. A longer one does not wait
 * longer, it fires after 1 ms (a `--period=1000h` asked Prometheus 873 times in 5 s), so no
 * duration that feeds a timer may exceed it; {@link boundedDuration} refuses to define one that could.
 */
export const TIMER_LIMIT_MS = 2 ** 31 - 1;

/** `168h` → `168h (7 days)`: maxima in whole days read better with the days spelled out. */
export function describeDurationLimit(text: string): string {
  const ms = parseDuration(text);
  const day = 86_400_000;
  return ms > day && ms % day === 0 ? `${text} (${ms / day} days)` : text;
}

/**
 * A duration within `[min, max]`, both written in duration syntax. `min` `0` allows 0 (which the
 * option's description gives a meaning); `1ms` means "greater than 0". The maximum is part of the
 * expected form, so `--help`, docs/configuration.md and every error message state it.
 */
export function boundedDuration(
  min: string,
  max: string,
  examples = 'such as 30s, 5m or 1h30m',
): ValueType<number> {
  const minMs = parseDuration(min);
  const maxMs = parseDuration(max);
  // A bug in an option table, not a configuration error.
  if (maxMs > TIMER_LIMIT_MS) throw new Error(`the maximum ${max} exceeds what a timer can wait`);
  if (minMs > maxMs) throw new Error(`the minimum ${min} exceeds the maximum ${max}`);
  const limit = describeDurationLimit(max);
  const range =
    minMs === 0
      ? `of at most ${limit}`
      : minMs === 1
        ? `greater than 0 and at most ${limit}`
        : `from ${min} to ${limit}`;
  return {
    ...valueType(`a duration ${range}, ${examples}`, (text) => {
      const ms = parseDuration(text);
      if (ms < minMs) throw new InvalidValueError(minMs === 1 ? '' : `shorter than ${min}`);
      if (ms > maxMs) throw new InvalidValueError(`longer than ${max}`);
      return ms;
    }),
    bounds: { min: minMs, max: maxMs, maxText: limit, unit: 'ms' },
  };
}

/**
 * A duration, or a bare whole number of seconds, of at most `max`: kured's
 * `--skip-wait-for-delete-timeout` was an integer of seconds, so `300` keeps meaning five minutes.
 * Only for flags that were integers in kured.
 */
export function boundedDurationOrSeconds(max: string): ValueType<number> {
  const maxMs = parseDuration(max);
  if (maxMs > TIMER_LIMIT_MS) throw new Error(`the maximum ${max} exceeds what a timer can wait`);
  const limit = describeDurationLimit(max);
  return {
    ...valueType(`a duration of at most ${limit} such as 30s or 5m, or a whole number of seconds`, (text) => {
      const ms = /^[0-9]+$/.test(text) ? parseDuration(`${text}s`) : parseDuration(text);
      if (ms > maxMs) throw new InvalidValueError(`longer than ${max}`);
      return ms;
    }),
    bounds: { min: 0, max: maxMs, maxText: limit, unit: 'ms' },
  };
}

// ---------------------------------------------------------------------------------------------
// Time of day
// ---------------------------------------------------------------------------------------------

const TIME_OF_DAY_EXPECTED = 'a time of day such as 22:00, 22:00:30, 10pm or 10:30pm';

/**
 * kured's layouts `15:04`, `15:04:05`, `03:04pm`, `15`, `03pm`, `3pm` (am/pm in any case; a
 * one-digit hour is fine everywhere) → seconds since midnight. `24:00` does not exist: the end of
 * a day is `23:59:59` (window ends include their whole last second).
 */
export function parseTimeOfDay(text: string): number {
  const match = /^([0-9]{1,2})(?::([0-9]{2})(?::([0-9]{2}))?)?([ap]m)?$/i.exec(text);
  if (!match) throw new InvalidValueError('');
  const [, h = '0', m = '0', s = '0', meridiem] = match;
  let hour = Number(h);
  const minute = Number(m);
  const second = Number(s);
  if (minute > 59) throw new InvalidValueError('minutes go from 00 to 59');
  if (second > 59) throw new InvalidValueError('seconds go from 00 to 59');
  if (meridiem !== undefined) {
    if (hour < 1 || hour > 12) throw new InvalidValueError('with am/pm the hour goes from 1 to 12');
    hour = (hour % 12) + (meridiem.toLowerCase() === 'pm' ? 12 : 0);
  } else if (hour > 23) {
    throw new InvalidValueError('hours go from 0 to 23; write 23:59:59 for the end of the day');
  }
  return hour * 3600 + minute * 60 + second;
}

export const timeOfDay: ValueType<number> = valueType(TIME_OF_DAY_EXPECTED, parseTimeOfDay);

/** Seconds since midnight → `HH:MM:SS`, for messages. */
export function formatTimeOfDay(seconds: number): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(Math.floor(seconds / 3600))}:${pad(Math.floor(seconds / 60) % 60)}:${pad(seconds % 60)}`;
}

// ---------------------------------------------------------------------------------------------
// Weekdays
// ---------------------------------------------------------------------------------------------

/** Index = JavaScript's `Date#getDay()` (0 = Sunday), like Go's `time.Weekday` that kured used. */
const DAY_NAMES: readonly (readonly string[])[] = [
  ['su', 'sun', 'sunday'],
  ['mo', 'mon', 'monday'],
  ['tu', 'tue', 'tuesday'],
  ['we', 'wed', 'wednesday'],
  ['th', 'thu', 'thursday'],
  ['fr', 'fri', 'friday'],
  ['sa', 'sat', 'saturday'],
];

const WEEKDAYS_EXPECTED =
  'weekdays such as mo-fr or sa,su (su/sun/sunday … sa/sat/saturday or 0-6 with 0 = Sunday; ranges may wrap, like fr-mo)';

function parseDay(text: string): number {
  const lower = text.trim().toLowerCase();
  if (/^[0-6]$/.test(lower)) return Number(lower);
  const day = DAY_NAMES.findIndex((names) => names.includes(lower));
  if (day < 0) throw new InvalidValueError(`"${text.trim()}" is not a day`);
  return day;
}

/**
 * Comma-separated days or ranges (`mo-fr`, wrapping `fr-mo` = Fri, Sat, Sun, Mon) → sorted
 * unique 0..6. An empty list is an error: kured read `--reboot-days=` as "never", a way to pause
 * that nobody could see; baton has a pause for that.
 */
export function parseWeekdays(text: string): readonly number[] {
  if (text.trim() === '') {
    throw new InvalidValueError(
      'at least one day is needed; to stop reboots, pause baton (the baton-pause Lease)',
    );
  }
  const days = new Set<number>();
  for (const entry of text.split(',')) {
    if (entry.trim() === '') throw new InvalidValueError('an entry is empty');
    const ends = entry.split('-');
    if (ends.length > 2) throw new InvalidValueError(`"${entry.trim()}" is not a day or a range`);
    const from = parseDay(ends[0] ?? '');
    const to = ends.length === 2 ? parseDay(ends[1] ?? '') : from;
    for (let day = from; ; day = (day + 1) % 7) {
      days.add(day);
      if (day === to) break;
    }
  }
  return [...days].sort((a, b) => a - b);
}

export const weekdays: ValueType<readonly number[]> = valueType(WEEKDAYS_EXPECTED, parseWeekdays);

// ---------------------------------------------------------------------------------------------
// Time zones
// ---------------------------------------------------------------------------------------------

/**
 * IANA zone name, `UTC`, or `Local` (the process's own zone, as in Go). Returns the name the
 * JavaScript engine resolves it to (`europe/berlin` → `Europe/Berlin`; links such as `US/Pacific`
 * become their canonical zone), so later `Intl` calls get exactly what was checked here.
 */
export function parseTimeZone(text: string): string {
  if (text === 'Local') return new Intl.DateTimeFormat().resolvedOptions().timeZone;
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: text }).resolvedOptions().timeZone;
  } catch {
    throw new InvalidValueError('');
  }
}

export const timeZone: ValueType<string> = valueType(
  'an IANA time zone such as Europe/Berlin or America/New_York, or UTC, or Local',
  parseTimeZone,
);

// ---------------------------------------------------------------------------------------------
// Reboot windows
// ---------------------------------------------------------------------------------------------

/**
 * When reboots may start. `endSeconds` is inclusive of its whole second. `startSeconds >
 * endSeconds` wraps past midnight; as in kured the day checked is the calendar day of the moment
 * (so `fr 22:00-04:00` does not cover Saturday 01:00 unless Saturday is listed).
 */
export interface RebootWindow {
  readonly days: readonly number[];
  readonly startSeconds: number;
  readonly endSeconds: number;
}

/**
 * `<days> <start>-<end>`, e.g. `mo-fr 22:00-04:00` or `sa,su 0:00-23:59:59`. start == end is
 * refused: kured read it as the whole day, a reader would guess one second.
 */
export function parseRebootWindow(text: string): RebootWindow {
  const match = /^\s*(\S+)\s+([^\s-]+)\s*-\s*([^\s-]+)\s*$/.exec(text);
  if (!match) throw new InvalidValueError('');
  const [, daysText = '', startText = '', endText = ''] = match;
  const days = withContext('days', () => parseWeekdays(daysText));
  const startSeconds = withContext('start', () => parseTimeOfDay(startText));
  const endSeconds = withContext('end', () => parseTimeOfDay(endText));
  if (startSeconds === endSeconds) {
    throw new InvalidValueError('start and end are the same; for the whole day write 0:00-23:59:59');
  }
  return { days, startSeconds, endSeconds };
}

function withContext<T>(what: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (!(error instanceof InvalidValueError)) throw error;
    throw new InvalidValueError(`${what}: ${error.message || 'not valid'}`);
  }
}

export const rebootWindow: ValueType<RebootWindow> = valueType(
  'a window such as "mo-fr 22:00-04:00" or "sa,su 0:00-23:59:59" (days, a space, start-end; start after end wraps past midnight)',
  parseRebootWindow,
);

// ---------------------------------------------------------------------------------------------
// Dates
// ---------------------------------------------------------------------------------------------

/** `YYYY-MM-DD`, a real calendar date; kept as text (the day is judged in the configured zone). */
export function parseDate(text: string): string {
  const match = /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/.exec(text);
  if (!match) throw new InvalidValueError('');
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) {
    throw new InvalidValueError('no such day in the calendar');
  }
  return text;
}

export const date: ValueType<string> = valueType('a date such as 2025-12-24 (YYYY-MM-DD)', parseDate);
