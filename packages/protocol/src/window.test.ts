import { describe, expect, it } from 'vitest';
import type { RebootWindow } from './config/time.ts';
import { localTime, windowVerdict } from './window.ts';

const h = (hh: number, mm = 0, ss = 0) => hh * 3600 + mm * 60 + ss;
const weekdays = [1, 2, 3, 4, 5];
const night: RebootWindow = { days: weekdays, startSeconds: h(22), endSeconds: h(4) };
const allDay: RebootWindow = { days: [0, 1, 2, 3, 4, 5, 6], startSeconds: 0, endSeconds: h(23, 59, 59) };

describe('localTime', () => {
  it('reads wall-clock time in the zone', () => {
    // 2026-11-25 is a Wednesday.
    expect(localTime(new Date('2026-11-25T23:30:00Z'), 'Europe/Berlin')).toEqual({
      weekday: 4,
      seconds: h(0, 30),
      date: '2026-11-26',
    });
    expect(localTime(new Date('2026-11-25T23:30:00Z'), 'UTC')).toMatchObject({
      weekday: 3,
      date: '2026-11-25',
    });
  });
});

describe('windowVerdict', () => {
  it.each<[string, RebootWindow[], string, string, boolean]>([
    ['all day, any instant', [allDay], 'UTC', '2026-11-25T12:00:00Z', true],
    ['the last second of the day is inside 23:59:59', [allDay], 'UTC', '2026-11-25T23:59:59.900Z', true],
    ['night window, Wednesday 23:00', [night], 'UTC', '2026-11-25T23:00:00Z', true],
    ['night window, Wednesday 03:59:59', [night], 'UTC', '2026-11-25T03:59:59Z', true],
    [
      'night window, Wednesday 04:00:00 is still inside the end second',
      [night],
      'UTC',
      '2026-11-25T04:00:00.500Z',
      true,
    ],
    ['night window, Wednesday 04:00:01', [night], 'UTC', '2026-11-25T04:00:01Z', false],
    ['night window, Wednesday noon', [night], 'UTC', '2026-11-25T12:00:00Z', false],
    // The calendar day of the instant counts: Saturday 01:00 is outside a Monday–Friday window.
    ['night window, Saturday 01:00 (after Friday night)', [night], 'UTC', '2026-11-28T01:00:00Z', false],
    ['night window, Monday 01:00 (after Sunday night)', [night], 'UTC', '2026-11-30T01:00:00Z', true],
    [
      'in the zone, not in UTC: 22:30 Berlin is 21:30 UTC',
      [night],
      'Europe/Berlin',
      '2026-11-25T21:30:00Z',
      true,
    ],
    ['in the zone: 21:30 Berlin is outside', [night], 'Europe/Berlin', '2026-11-25T20:30:00Z', false],
    [
      'several windows: the second one opens',
      [night, { days: [6], startSeconds: h(10), endSeconds: h(12) }],
      'UTC',
      '2026-11-28T11:00:00Z',
      true,
    ],
  ])('%s', (_what, windows, zone, at, open) => {
    expect(windowVerdict(windows, zone, [], new Date(at)).open).toBe(open);
  });

  it('follows a daylight-saving change in the zone (Berlin, 2026-03-29: 02:00 → 03:00)', () => {
    const early: RebootWindow = { days: [0], startSeconds: h(1), endSeconds: h(3, 30) };
    // 00:30 UTC = 01:30 CET (inside); 01:30 UTC = 03:30 CEST (inside, last minute); 01:31 UTC = 03:31 CEST (outside).
    expect(windowVerdict([early], 'Europe/Berlin', [], new Date('2026-03-29T00:30:00Z')).open).toBe(true);
    expect(windowVerdict([early], 'Europe/Berlin', [], new Date('2026-03-29T01:30:00Z')).open).toBe(true);
    expect(windowVerdict([early], 'Europe/Berlin', [], new Date('2026-03-29T01:31:00Z')).open).toBe(false);
    // The window lasted 1.5 real hours that night, not 2.5.
  });

  it('closes on a blackout date, in the zone', () => {
    const v = windowVerdict([allDay], 'Europe/Berlin', ['2026-11-26'], new Date('2026-11-25T23:30:00Z'));
    expect(v).toEqual({
      open: false,
      why: 'BlackoutDate',
      detail: '2026-11-26 is a blackout date (Europe/Berlin)',
    });
    expect(windowVerdict([allDay], 'UTC', ['2026-11-26'], new Date('2026-11-25T23:30:00Z')).open).toBe(true);
  });

  it('says why it is closed', () => {
    const v = windowVerdict([night], 'UTC', [], new Date('2026-11-25T12:00:00Z'));
    expect(v).toMatchObject({ open: false, why: 'OutsideWindow' });
  });
});
