import { describe, expect, it } from 'vitest';
import { formatAge, formatStatus, formatWhy, relative, table } from './format.ts';
import { statusReport } from './view.ts';
import { whyReport } from './why.ts';

const now = new Date('2026-01-10T12:00:00Z');
const ago = (s: number) => new Date(now.getTime() - s * 1000).toISOString();

describe('formatAge', () => {
  it.each([
    [0, '0s'],
    [45_000, '45s'],
    [90_000, '1m30s'],
    [12 * 60_000, '12m'],
    [3 * 3_600_000 + 5 * 60_000, '3h5m'],
    [5 * 3_600_000, '5h'],
    [50 * 3_600_000, '2d2h'],
    [72 * 3_600_000, '3d'],
    [-5_000, '0s'],
  ])('%i ms is %s', (ms, text) => {
    expect(formatAge(ms)).toBe(text);
  });

  it('relative times point forward or back, and - for none', () => {
    expect(relative(ago(-300), now)).toBe('in 5m');
    expect(relative(ago(300), now)).toBe('5m ago');
    expect(relative(null, now)).toBe('-');
  });
});

describe('table', () => {
  it('aligns columns without trailing blanks', () => {
    expect(
      table([
        ['A', 'BB', 'C'],
        ['long', '', 'x'],
      ]),
    ).toBe('A     BB  C\nlong      x');
  });
});

describe('formatStatus', () => {
  it('prints the pause, the slots and one line per node', () => {
    const report = statusReport({
      namespace: 'baton',
      now,
      optOutLabel: 'baton.dev/opt-out',
      leases: [
        {
          metadata: { name: 'baton-pause', annotations: { 'baton.dev/pause-reason': 'change freeze' } },
          spec: {
            holderIdentity: 'manual:alice',
            renewTime: ago(60),
            acquireTime: ago(60),
            leaseDurationSeconds: 7200,
          },
        },
        {
          metadata: { name: 'baton-slot-0', annotations: { 'baton.dev/grant-id': 'g1' } },
          spec: { holderIdentity: 'node-a', renewTime: ago(60), leaseDurationSeconds: 300 },
        },
        {
          metadata: { name: 'baton-slot-1' },
          spec: { holderIdentity: 'node-c', renewTime: ago(600), leaseDurationSeconds: 300 },
        },
        { metadata: { name: 'baton-slot-2' }, spec: {} },
      ],
      nodes: [
        {
          metadata: {
            name: 'node-a',
            annotations: { 'baton.dev/phase': 'Draining', 'baton.dev/phase-since': ago(30) },
          },
          status: {
            conditions: [
              {
                type: 'RebootRequired',
                status: 'True',
                reason: 'SentinelPresent',
                lastTransitionTime: ago(900),
              },
            ],
          },
        },
        {
          metadata: { name: 'node-b' },
          status: {
            conditions: [
              {
                type: 'RebootRequired',
                status: 'True',
                reason: 'SentinelPresent',
                lastTransitionTime: ago(900),
              },
              {
                type: 'RebootGate',
                status: 'True',
                reason: 'Paused',
                message: 'paused',
                lastTransitionTime: ago(60),
              },
            ],
          },
        },
        {
          metadata: { name: 'node-c' },
          status: { conditions: [{ type: 'RebootRequired', status: 'False', reason: 'NoSentinel' }] },
        },
        { metadata: { name: 'node-d' } },
      ],
    });
    expect(formatStatus(report)).toBe(
      [
        'Pause: paused by manual:alice until 2026-01-10T13:59:00.000Z (in 1h59m); reason: change freeze',
        '',
        'Slots (namespace baton):',
        'SLOT          HOLDER  RENEWED',
        'baton-slot-0  node-a  1m ago',
        'baton-slot-1  node-c  not a grant (no baton.dev/grant-id)',
        'baton-slot-2  -       -',
        '',
        'NODE    REBOOT      PHASE     SLOT                        BLOCKED  SINCE',
        'node-a  yes         Draining  baton-slot-0                -        30s',
        'node-b  yes         -         -                           Paused   1m',
        'node-c  no          -         baton-slot-1 (not a grant)  -        -',
        'node-d  unreported  -         -                           -        -',
        '',
      ].join('\n'),
    );
  });

  it('says when there are no slots, no pause and no nodes', () => {
    const text = formatStatus(
      statusReport({ namespace: 'ops', now, optOutLabel: 'x/y', leases: [], nodes: [] }),
    );
    expect(text).toBe(
      'Pause: not paused\n\nSlots: no slot Leases in namespace ops (the controller creates them when it first grants)\n\nNo nodes.\n',
    );
  });

  it('says a pause without an end lasts until resumed', () => {
    const text = formatStatus(
      statusReport({
        namespace: 'baton',
        now,
        optOutLabel: 'x/y',
        leases: [{ metadata: { name: 'baton-pause' }, spec: { holderIdentity: 'manual:bob' } }],
        nodes: [],
      }),
    );
    expect(text.split('\n')[0]).toBe('Pause: paused by manual:bob (until resumed)');
  });
});

describe('formatWhy', () => {
  it('prints the summary and one row per gate with its verdict', () => {
    const text = formatWhy(
      whyReport({
        node: {
          name: 'n',
          needsReboot: 'yes',
          rebootRequired: { status: 'True', reason: 'RebootRequested', message: null, since: null },
          phase: null,
          phaseSince: null,
          slot: null,
          granted: false,
          gate: null,
          blocked: null,
          since: null,
          requestedBy: 'alice',
          attempts: null,
          optedOut: true,
          cordoned: false,
        },
        pause: { paused: false, holder: null, reason: null, since: null, until: null, description: null },
        slots: [],
        optOutLabel: 'baton.dev/opt-out',
        time: 'T',
      }),
    );
    const lines = text.split('\n');
    expect(lines[0]).toBe('n will not be granted a reboot now; held back by: opt-out');
    expect(lines[2]).toMatch(/^GATE\s+VERDICT\s+DETAIL$/);
    expect(lines[3]).toBe('reboot-required  ok       needs a reboot: RebootRequired=True (RebootRequested)');
    expect(lines.find((l) => l.startsWith('opt-out'))).toMatch(
      /^opt-out\s+BLOCKS\s+opted out: label baton.dev\/opt-out=true/,
    );
  });
});
