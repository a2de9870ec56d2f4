/** Nodes and slot Leases for the planner's unit tests. */
import type { V1Node } from '@kubernetes/client-node';
import { GRANTED_NODE_ANNOTATION, type PlanSettings, type SlotLease } from '../plan/plan.ts';

export const NOW = new Date('2026-11-25T12:00:00.000Z');
const ago = (s: number) => new Date(NOW.getTime() - s * 1000).toISOString();

export const baseSettings: PlanSettings = {
  concurrency: 1,
  settleMs: 0,
  rebootTimeoutMs: 30 * 60_000,
  grantDurationMs: 5 * 60_000,
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
    /** The grant identity the agent recorded with its phase (default: slot 0's test grant). */
    grant?: string;
  } = {},
): V1Node {
  return {
    metadata: {
      name,
      labels: o.labels ?? {},
      annotations: o.phase
        ? {
            'baton.dev/phase': o.phase,
            'baton.dev/phase-since': ago(5),
            'baton.dev/grant': o.grant ?? testGrantIdentity(0, name),
          }
        : {},
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

/** The identity of {@link testSlot}'s grant: `baton-slot-<i>/g-<holder>`. */
export function testGrantIdentity(i: number, holder: string): string {
  return `baton-slot-${i}/g-${holder}`;
}

export function testSlot(i: number, holder?: string): SlotLease {
  return {
    metadata: {
      name: `baton-slot-${i}`,
      annotations: holder ? { [GRANTED_NODE_ANNOTATION]: holder, 'baton.dev/grant-id': `g-${holder}` } : {},
    },
    spec: holder
      ? { holderIdentity: holder, acquireTime: ago(30), renewTime: ago(5), leaseDurationSeconds: 300 }
      : {},
  };
}
