import { describe, expect, it } from 'vitest';
import {
  addDays,
  clockIn,
  FIXED_OFFSET_ZONES,
  hhmm,
  otherDays,
  timeOfDayDistance,
  zoneNear,
  zoneOnOtherDate,
} from './windows-time.ts';

/** The zone's offset from UTC at `at`, in hours. */
function offsetHours(zone: string, at: Date): number {
  const c = clockIn(zone, at);
  const utc = clockIn('UTC', at);
  let diff = c.seconds - utc.seconds;
  if (c.date > utc.date) diff += 86_400;
  if (c.date < utc.date) diff -= 86_400;
  return diff / 3600;
}

describe('windows-time', () => {
  it('the fixed-offset zones are canonical, keep their offset all year, and cover -11..+14 h', () => {
    const offsets = FIXED_OFFSET_ZONES.map((zone) => {
      expect(new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone).toBe(zone);
      const months = Array.from({ length: 12 }, (_, m) => offsetHours(zone, new Date(Date.UTC(2026, m, 15))));
      expect(new Set(months).size, zone).toBe(1);
      return months[0];
    });
    expect(offsets).toEqual(Array.from({ length: 26 }, (_, i) => i - 11));
  });

  it('clockIn reads the wall clock, date and weekday in the zone', () => {
    const at = new Date('2026-12-07T02:54:14Z'); // a Monday in UTC
    expect(clockIn('UTC', at)).toEqual({
      zone: 'UTC',
      weekday: 1,
      seconds: 2 * 3600 + 54 * 60 + 14,
      date: '2026-12-07',
    });
    expect(clockIn('Pacific/Honolulu', at)).toMatchObject({
      weekday: 0,
      date: '2026-12-06',
      seconds: 16 * 3600 + 54 * 60 + 14,
    });
    expect(clockIn('Pacific/Kiritimati', at)).toMatchObject({
      weekday: 1,
      date: '2026-12-07',
      seconds: 16 * 3600 + 54 * 60 + 14,
    });
  });

  it('zoneNear finds a zone within 30 minutes of any time of day, at any instant', () => {
    const start = Date.UTC(2026, 0, 1);
    // Every 7 minutes over a day, and at one instant of every month.
    const instants = [
      ...Array.from({ length: 206 }, (_, i) => start + i * 7 * 60_000),
      ...Array.from({ length: 12 }, (_, m) => Date.UTC(2026, m, 9, 13, 17)),
    ];
    for (const t of instants) {
      for (const target of [0, 2 * 3600, 12 * 3600, 18 * 3600]) {
        const c = zoneNear(target, new Date(t));
        expect(timeOfDayDistance(c.seconds, target)).toBeLessThanOrEqual(30 * 60);
      }
    }
  });

  it('zoneOnOtherDate finds a zone on another date, at least 30 minutes from its midnight, at any instant', () => {
    const start = Date.UTC(2026, 11, 31);
    for (let i = 0; i < 206; i++) {
      const now = new Date(start + i * 7 * 60_000);
      for (const zone of FIXED_OFFSET_ZONES) {
        const { date } = clockIn(zone, now);
        const other = zoneOnOtherDate(date, now);
        expect(other.date).not.toBe(date);
        expect(timeOfDayDistance(other.seconds, 0)).toBeGreaterThanOrEqual(30 * 60);
      }
    }
  });

  it('timeOfDayDistance goes around the clock', () => {
    expect(timeOfDayDistance(23.5 * 3600, 0.5 * 3600)).toBe(3600);
    expect(timeOfDayDistance(12 * 3600, 0)).toBe(12 * 3600);
    expect(timeOfDayDistance(3600, 3600)).toBe(0);
  });

  it('addDays crosses months, years and leap days', () => {
    expect(addDays('2026-12-31', 1)).toBe('2027-01-01');
    expect(addDays('2028-02-28', 1)).toBe('2028-02-29');
    expect(addDays('2027-03-01', -1)).toBe('2027-02-28');
    expect(addDays('2026-12-07', 0)).toBe('2026-12-07');
  });

  it('hhmm and otherDays write values the controller flags accept', () => {
    expect(hhmm(12 * 3600 + 61)).toBe('12:01');
    expect(hhmm(-3600)).toBe('23:00');
    expect(hhmm(25 * 3600 + 5 * 60)).toBe('1:05');
    expect(otherDays(0)).toBe('mo,tu,we,th,fr,sa');
    expect(otherDays(3)).toBe('su,mo,tu,th,fr,sa');
  });
});
