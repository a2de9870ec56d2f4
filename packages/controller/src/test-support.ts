/** Nodes and slot Leases for the planner's unit tests. */
import type { V1Node } from '@kubernetes/client-node';
import { GRANTED_NODE_ANNOTATION, type PlanSettings, type SlotLease } from './plan.ts';

export const NOW = new Date('2026-11-25T12:00:00.000Z');
const ago = (s: number) => new Date(NOW.getTime() - s * 1000).toISOString();

export const baseSettings: PlanSettings = {
  concurrency: 1,
  settleMs: 0,
  rebootTimeoutMs: 30 * 60_000,
  optOutLabel: 'baton.dev/opt-out',
  priorityLabel: 'baton.dev/priority',
  windows: [{ days: [0, 1, 2, 3, 4, 5, 6], startSeconds: 0, endSeconds: 86_399 }],
  timeZone: 'UTC',
  blackoutDates: [],
};

export function testNode(
  name: string,
  o: {
    needs?: boolean;
    since?: number;
    ready?: boolean;
    cordoned?: boolean;
    labels?: Record<string, string>;
    phase?: string;
  } = {},
): V1Node {
  return {
    metadata: {
      name,
      labels: o.labels ?? {},
      annotations: o.phase ? { 'baton.dev/phase': o.phase, 'baton.dev/phase-since': ago(5) } : {},
    },
    spec: { unschedulable: o.cordoned },
    status: {
      conditions: [
        { type: 'Ready', status: o.ready === false ? 'False' : 'True' },
        {
          type: 'RebootRequired',
          status: o.needs ? 'True' : 'False',
          reason: o.needs ? 'SentinelPresent' : 'NoSentinel',
          lastTransitionTime: ago(o.since ?? 60) as unknown as Date,
        },
      ],
    },
  };
}

export function testSlot(i: number, holder?: string): SlotLease {
  return {
    metadata: { name: `baton-slot-${i}`, annotations: holder ? { [GRANTED_NODE_ANNOTATION]: holder } : {} },
    spec: holder
      ? { holderIdentity: holder, acquireTime: ago(30), renewTime: ago(5), leaseDurationSeconds: 300 }
      : {},
  };
}
