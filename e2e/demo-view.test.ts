import {
  AgentPhase,
  Annotation,
  GateReason,
  type LeaseLike,
  REBOOT_GATE_CONDITION,
  REBOOT_REQUIRED_CONDITION,
  SlotAnnotation,
  slotLeaseName,
} from '@baton/protocol';
import { describe, expect, it } from 'vitest';
import {
  buildFrame,
  changeLines,
  type NodeLike,
  redraw,
  renderTable,
  rolloutDone,
  screenRows,
  slotsLine,
} from './demo-view.ts';

const now = new Date('2026-11-26T03:00:00.000Z');

const node = (name: string, o: { required?: string; phase?: string; gate?: string } = {}): NodeLike => ({
  metadata: { name, annotations: o.phase === undefined ? {} : { [Annotation.Phase]: o.phase } },
  status: {
    conditions: [
      { type: 'Ready', status: 'True', reason: 'KubeletReady' },
      ...(o.required === undefined
        ? []
        : [{ type: REBOOT_REQUIRED_CONDITION, status: o.required, reason: 'SentinelPresent' }]),
      ...(o.gate === undefined ? [] : [{ type: REBOOT_GATE_CONDITION, status: 'True', reason: o.gate }]),
    ],
  },
});

const slot = (
  index: number,
  holder: string,
  renewedSecondsAgo = 1,
  grantId: string | null = `grant-${index}`,
): LeaseLike => ({
  metadata: {
    name: slotLeaseName(index),
    annotations: grantId === null ? {} : { [SlotAnnotation.GrantId]: grantId },
  },
  spec: {
    holderIdentity: holder,
    renewTime: new Date(now.getTime() - renewedSecondsAgo * 1000).toISOString(),
    leaseDurationSeconds: 30,
  },
});

const frame = (nodes: NodeLike[], leases: LeaseLike[], reboots: Record<string, number> = {}) =>
  buildFrame({ nodes, leases, reboots: new Map(Object.entries(reboots)), concurrency: 1 });

describe('buildFrame', () => {
  it('reads the condition statuses, the phase annotation, the valid grants and the reboot counts', () => {
    const f = frame(
      [
        node('n-10', { required: 'True', gate: GateReason.WaitingForSlot }),
        node('n-2', { required: 'True', phase: AgentPhase.Draining, gate: GateReason.Granted }),
        node('n-1'),
      ],
      [slot(0, 'n-2'), { metadata: { name: 'baton-controller-leader' }, spec: { holderIdentity: 'x' } }],
      { 'n-1': 1 },
    );
    expect(f.rows).toEqual([
      { node: 'n-1', rebootRequired: '-', phase: '-', slot: '-', gate: '-', reboots: 1 },
      {
        node: 'n-2',
        rebootRequired: 'True',
        phase: AgentPhase.Draining,
        slot: 'baton-slot-0',
        gate: GateReason.Granted,
        reboots: 0,
      },
      {
        node: 'n-10',
        rebootRequired: 'True',
        phase: '-',
        slot: '-',
        gate: GateReason.WaitingForSlot,
        reboots: 0,
      },
    ]);
    expect(f.held).toEqual([{ slot: 'baton-slot-0', holder: 'n-2' }]);
  });

  it('does not count an empty slot, or a holder without a grant id, as held', () => {
    const f = frame([node('a')], [slot(0, 'a', 1, null), slot(1, '')]);
    expect(f.held).toEqual([]);
    expect(f.rows[0]?.slot).toBe('-');
  });

  it('counts a grant by its identity, however long ago its Lease was renewed', () => {
    // The protocol judges a grant by slot and grant id, never by another machine's clock.
    const f = frame([node('a')], [slot(0, 'a', 3600)]);
    expect(f.held).toEqual([{ slot: 'baton-slot-0', holder: 'a' }]);
    expect(f.rows[0]?.slot).toBe('baton-slot-0');
  });
});

describe('rolloutDone', () => {
  const done = (name: string) =>
    node(name, { required: 'False', phase: AgentPhase.Rebooted, gate: GateReason.NotRequired });
  it('is true once every node rebooted, settled and no slot is held', () => {
    expect(rolloutDone(frame([done('a'), done('b')], [], { a: 1, b: 1 }))).toBe(true);
  });
  it.each([
    ['a node not rebooted yet', [done('a'), done('b')], [], { a: 1 }],
    ['a slot still held', [done('a'), done('b')], [slot(0, 'b')], { a: 1, b: 1 }],
    [
      'a node still required',
      [done('a'), node('b', { required: 'True', phase: AgentPhase.Rebooted, gate: GateReason.NotRequired })],
      [],
      { a: 1, b: 1 },
    ],
    ['no nodes', [], [], {}],
  ])('is false with %s', (_, nodes, leases, reboots) => {
    expect(rolloutDone(frame(nodes, leases, reboots))).toBe(false);
  });
});

describe('renderTable', () => {
  it('aligns the columns and ends with the slots and progress lines', () => {
    const lines = renderTable(
      frame(
        [
          node('node-a', { required: 'True', phase: AgentPhase.Rebooting, gate: GateReason.Granted }),
          node('b'),
        ],
        [slot(0, 'node-a')],
      ),
    );
    expect(lines).toEqual([
      'NODE    REBOOT REQUIRED  PHASE      SLOT          GATE (RebootGate reason)  REBOOTS',
      'b       -                -          -             -                         0',
      'node-a  True             Rebooting  baton-slot-0  Granted                   0',
      '',
      'slots held 1/1: baton-slot-0=node-a',
      'nodes rebooted 0/2',
    ]);
  });
});

describe('changeLines', () => {
  const a0 = frame([node('a', { required: 'True' }), node('b', { required: 'True' })], []);
  const a1 = frame(
    [
      node('a', { required: 'True', phase: AgentPhase.Cordoning, gate: GateReason.Granted }),
      node('b', { required: 'True' }),
    ],
    [slot(0, 'a')],
  );

  it('prints every row and the slots on the first frame', () => {
    expect(changeLines(undefined, a0, 1, 1500)).toEqual([
      '[frame 1 +1.5s] a rebootRequired=True phase=- slot=- gate=- reboots=0',
      '[frame 1 +1.5s] b rebootRequired=True phase=- slot=- gate=- reboots=0',
      '[frame 1 +1.5s] slots held 0/1',
    ]);
  });

  it('prints only the rows that changed, and the slots line when the holders changed', () => {
    expect(changeLines(a0, a1, 2, 2000)).toEqual([
      '[frame 2 +2.0s] a rebootRequired=True phase=Cordoning slot=baton-slot-0 gate=Granted reboots=0',
      '[frame 2 +2.0s] slots held 1/1: baton-slot-0=a',
    ]);
    expect(changeLines(a1, a1, 3, 2500)).toEqual([]);
  });

  it('says once when the rollout is done', () => {
    const done = frame(
      [node('a', { required: 'False', phase: AgentPhase.Rebooted, gate: GateReason.NotRequired })],
      [],
      { a: 1 },
    );
    const lines = changeLines(a1, done, 4, 9000);
    expect(lines.at(-1)).toBe(
      '[frame 4 +9.0s] rollout done: every node rebooted, none needs a reboot, no slot held',
    );
    expect(changeLines(done, done, 5, 9500)).toEqual([]);
  });
});

describe('slotsLine and redraw', () => {
  it('lists the holders in slot order', () => {
    const f = buildFrame({
      nodes: [],
      leases: [slot(1, 'y'), slot(0, 'x')],
      reboots: new Map(),
      concurrency: 2,
    });
    expect(slotsLine(f)).toBe('slots held 2/2: baton-slot-0=x baton-slot-1=y');
  });

  it('counts the rows wrapped lines take', () => {
    expect(screenRows(['', 'abc', 'x'.repeat(81)], 80)).toBe(4);
  });

  it('moves up over the previous drawing and clears it before writing', () => {
    expect(redraw(0, ['a', 'b'])).toBe('\x1b[Ja\nb\n');
    expect(redraw(2, ['c'])).toBe('\x1b[2F\x1b[Jc\n');
  });
});
