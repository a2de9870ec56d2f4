import { describe, expect, it } from 'vitest';
import { detailOf, run } from './test-support.ts';
import {
  boundedDuration,
  boundedDurationOrSeconds,
  date,
  describeDurationLimit,
  duration,
  formatTimeOfDay,
  parseDuration,
  parseRebootWindow,
  parseTimeOfDay,
  parseTimeZone,
  parseWeekdays,
  rebootWindow,
  TIMER_LIMIT_MS,
  timeOfDay,
  timeZone,
  weekdays,
} from './time.ts';

describe('durations', () => {
  it.each([
    ['0', 0],
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['1.1s', 1100],
    ['.5s', 500],
    ['5.s', 5000],
    ['2h45m30s250ms', 9_930_250],
    ['0s', 0],
    ['0ms', 0],
    ['90m', 5_400_000],
  ])('%j = %j ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    ['', 'it is empty'],
    ['10x', ''],
    ['10', 'a unit is required; only 0 may be written without one'],
    ['1.5', 'a unit is required; only 0 may be written without one'],
    ['-5m', 'negative durations are not allowed'],
    ['2d', '"d" (days) is not a unit here: write 24h for a day'],
    ['1d12h', '"d" (days) is not a unit here: write 24h for a day'],
    ['100ns', '"ns" is finer than baton counts'],
    ['100us', '"us" is finer than baton counts'],
    ['1.5ms', 'durations are counted in whole milliseconds'],
    ['1h30', ''],
    ['h', ''],
    ['.s', ''],
    ['5M', ''],
    [' 5m', ''],
    ['5m ', ''],
    ['1.2.3s', ''],
    ['+5m', ''],
    ['99999999999999999h', 'too long'],
  ])('%j is refused: %j', (text, detail) => {
    expect(detailOf(() => parseDuration(text))).toBe(detail);
  });

  it('names the expected form', () => {
    expect(duration.expected).toBe('a duration such as 30s, 5m or 1h30m');
    expect(run(duration, '10x')).toEqual({ ok: false, detail: '' });
  });

  it('enforces minimums and maximums, and names both', () => {
    const from30s = boundedDuration('30s', '24h');
    expect(from30s.expected).toBe('a duration from 30s to 24h, such as 30s, 5m or 1h30m');
    expect(from30s.bounds).toEqual({ min: 30_000, max: 86_400_000, maxText: '24h', unit: 'ms' });
    expect(run(from30s, '30s')).toEqual({ ok: true, value: 30_000 });
    expect(run(from30s, '29s')).toEqual({ ok: false, detail: 'shorter than 30s' });
    expect(run(from30s, '24h')).toEqual({ ok: true, value: 86_400_000 });
    expect(run(from30s, '24h0m0.001s')).toEqual({ ok: false, detail: 'longer than 24h' });
    expect(run(from30s, '2d')).toEqual({
      ok: false,
      detail: '"d" (days) is not a unit here: write 24h for a day',
    });
    const positive = boundedDuration('1ms', '1h', 'such as 500ms, 5s or 1m');
    expect(positive.expected).toBe('a duration greater than 0 and at most 1h, such as 500ms, 5s or 1m');
    expect(run(positive, '1ms')).toEqual({ ok: true, value: 1 });
    expect(run(positive, '0s')).toEqual({ ok: false, detail: '' });
    expect(run(positive, '0').ok).toBe(false);
    const fromZero = boundedDuration('0', '168h');
    expect(fromZero.expected).toBe('a duration of at most 168h (7 days), such as 30s, 5m or 1h30m');
    expect(run(fromZero, '0')).toEqual({ ok: true, value: 0 });
    expect(run(fromZero, '168h')).toEqual({ ok: true, value: 604_800_000 });
    expect(run(fromZero, '169h')).toEqual({ ok: false, detail: 'longer than 168h' });
  });

  it('never defines a duration a timer cannot wait for (2^31-1 ms, 24.8 days)', () => {
    expect(TIMER_LIMIT_MS).toBe(2_147_483_647);
    expect(() => boundedDuration('0', '597h')).toThrow(/exceeds what a timer can wait/);
    expect(() => boundedDuration('0', '596h')).not.toThrow();
    expect(() => boundedDurationOrSeconds('1000h')).toThrow(/exceeds what a timer can wait/);
    expect(() => boundedDuration('2h', '1h')).toThrow(/exceeds the maximum/);
  });

  it('spells out whole days in a maximum', () => {
    expect(describeDurationLimit('24h')).toBe('24h');
    expect(describeDurationLimit('48h')).toBe('48h (2 days)');
    expect(describeDurationLimit('1h30m')).toBe('1h30m');
  });

  it('reads a bare integer as seconds only where kured had seconds', () => {
    const durationOrSeconds = boundedDurationOrSeconds('24h');
    expect(durationOrSeconds.expected).toBe(
      'a duration of at most 24h such as 30s or 5m, or a whole number of seconds',
    );
    expect(run(durationOrSeconds, '300')).toEqual({ ok: true, value: 300_000 });
    expect(run(durationOrSeconds, '0')).toEqual({ ok: true, value: 0 });
    expect(run(durationOrSeconds, '5m')).toEqual({ ok: true, value: 300_000 });
    expect(run(durationOrSeconds, '86400')).toEqual({ ok: true, value: 86_400_000 });
    expect(run(durationOrSeconds, '86401')).toEqual({ ok: false, detail: 'longer than 24h' });
    expect(run(durationOrSeconds, '-1').ok).toBe(false);
    expect(run(durationOrSeconds, '1.5').ok).toBe(false);
    expect(run(duration, '300').ok).toBe(false);
  });
});

describe('times of day', () => {
  it.each([
    ['0:00', 0],
    ['00:00', 0],
    ['15:04', 15 * 3600 + 4 * 60],
    ['7:30', 7 * 3600 + 30 * 60],
    ['15:04:05', 15 * 3600 + 4 * 60 + 5],
    ['23:59:59', 86_399],
    ['03:04pm', 15 * 3600 + 4 * 60],
    ['03:04PM', 15 * 3600 + 4 * 60],
    ['3:04am', 3 * 3600 + 4 * 60],
    ['15', 15 * 3600],
    ['03pm', 15 * 3600],
    ['3pm', 15 * 3600],
    ['3Pm', 15 * 3600],
    ['12am', 0],
    ['12:30am', 30 * 60],
    ['12pm', 12 * 3600],
    ['11pm', 23 * 3600],
  ])('%j = %j s', (text, seconds) => {
    expect(parseTimeOfDay(text)).toBe(seconds);
  });

  it.each([
    ['24:00', 'hours go from 0 to 23; write 23:59:59 for the end of the day'],
    ['7:61', 'minutes go from 00 to 59'],
    ['7:30:60', 'seconds go from 00 to 59'],
    ['13pm', 'with am/pm the hour goes from 1 to 12'],
    ['0am', 'with am/pm the hour goes from 1 to 12'],
    ['7:5', ''],
    ['', ''],
    ['noon', ''],
    ['3 pm', ''],
    ['-1:00', ''],
    ['123', ''],
    ['10:00:00:00', ''],
  ])('%j is refused: %j', (text, detail) => {
    expect(detailOf(() => parseTimeOfDay(text))).toBe(detail);
  });

  it('formats seconds back', () => {
    expect(formatTimeOfDay(0)).toBe('00:00:00');
    expect(formatTimeOfDay(86_399)).toBe('23:59:59');
    expect(formatTimeOfDay(parseTimeOfDay('3:04:05pm'))).toBe('15:04:05');
    expect(timeOfDay.expected).toContain('22:00');
  });
});

describe('weekdays', () => {
  it.each([
    ['su,mo,tu,we,th,fr,sa', [0, 1, 2, 3, 4, 5, 6]],
    ['mo', [1]],
    ['Monday,TUE,wed', [1, 2, 3]],
    ['sun', [0]],
    ['0,6', [0, 6]],
    ['mo-fr', [1, 2, 3, 4, 5]],
    ['1-5', [1, 2, 3, 4, 5]],
    ['fr-mo', [0, 1, 5, 6]],
    ['sa-su', [0, 6]],
    ['we-we', [3]],
    ['sa,su,sa', [0, 6]],
    ['mo-we,tu-th', [1, 2, 3, 4]],
    [' mo , tu ', [1, 2]],
  ])('%j = %j', (text, days) => {
    expect(parseWeekdays(text)).toEqual(days);
  });

  it.each([
    ['', 'at least one day is needed; to stop reboots, pause baton (the baton-pause Lease)'],
    [' ', 'at least one day is needed; to stop reboots, pause baton (the baton-pause Lease)'],
    ['mo,,tu', 'an entry is empty'],
    ['mo,', 'an entry is empty'],
    ['mon-', '"" is not a day'],
    ['funday', '"funday" is not a day'],
    ['7', '"7" is not a day'],
    ['mo-tu-we', '"mo-tu-we" is not a day or a range'],
    ['m', '"m" is not a day'],
  ])('%j is refused: %j', (text, detail) => {
    expect(detailOf(() => parseWeekdays(text))).toBe(detail);
  });

  it('names the forms', () => {
    expect(weekdays.expected).toContain('mo-fr');
  });
});

describe('time zones', () => {
  it.each([
    ['UTC', 'UTC'],
    ['Europe/Berlin', 'Europe/Berlin'],
    ['europe/berlin', 'Europe/Berlin'],
    ['America/New_York', 'America/New_York'],
  ])('%j → %j', (text, zone) => {
    expect(parseTimeZone(text)).toBe(zone);
  });

  it('resolves Local to the process zone', () => {
    expect(parseTimeZone('Local')).toBe(Intl.DateTimeFormat().resolvedOptions().timeZone);
  });

  it.each(['', 'Mars/Olympus_Mons', 'Europe/Berlin ', 'local', 'CEST+2'])('%j is refused', (text) => {
    expect(run(timeZone, text).ok).toBe(false);
  });
});

describe('reboot windows', () => {
  it.each([
    ['mo-fr 22:00-04:00', { days: [1, 2, 3, 4, 5], startSeconds: 22 * 3600, endSeconds: 4 * 3600 }],
    ['sa,su 0:00-23:59:59', { days: [0, 6], startSeconds: 0, endSeconds: 86_399 }],
    ['  tu   10pm - 6am ', { days: [2], startSeconds: 22 * 3600, endSeconds: 6 * 3600 }],
    ['0-6 1-2', { days: [0, 1, 2, 3, 4, 5, 6], startSeconds: 3600, endSeconds: 7200 }],
  ])('%j', (text, window) => {
    expect(parseRebootWindow(text)).toEqual(window);
  });

  it.each([
    ['mo-fr', ''],
    ['22:00-04:00', ''],
    ['mo-fr 22:00', ''],
    ['mo-fr 22:00-', ''],
    ['mo fr 22:00-04:00', ''],
    ['xx 22:00-04:00', 'days: "xx" is not a day'],
    ['mo 25:00-04:00', 'start: hours go from 0 to 23; write 23:59:59 for the end of the day'],
    ['mo 22:00-04:61', 'end: minutes go from 00 to 59'],
    ['mo 22:00-22:00', 'start and end are the same; for the whole day write 0:00-23:59:59'],
  ])('%j is refused: %j', (text, detail) => {
    expect(detailOf(() => parseRebootWindow(text))).toBe(detail);
  });

  it('names the syntax', () => {
    expect(rebootWindow.expected).toContain('mo-fr 22:00-04:00');
  });
});

describe('dates', () => {
  it.each(['2025-12-24', '2024-02-29', '2000-02-29', '1999-01-01'])('%j', (text) => {
    expect(run(date, text)).toEqual({ ok: true, value: text });
  });

  it.each([
    ['2025-02-29', 'no such day in the calendar'],
    ['1900-02-29', 'no such day in the calendar'],
    ['2025-13-01', 'no such day in the calendar'],
    ['2025-04-31', 'no such day in the calendar'],
    ['2025-00-10', 'no such day in the calendar'],
    ['2025-1-1', ''],
    ['24.12.2025', ''],
    ['2025-12-24T00:00', ''],
    ['', ''],
  ])('%j is refused: %j', (text, detail) => {
    expect(run(date, text)).toEqual({ ok: false, detail });
  });
});
