import type { V1Node, V1NodeCondition } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { NodeApi } from '../kube/agent-api.ts';
import { Reporter } from './reporter.ts';
import type { SentinelReading } from './sentinel.ts';

const present: SentinelReading = { status: 'True', reason: 'SentinelPresent', message: 'exists' };
const absent: SentinelReading = { status: 'False', reason: 'NoSentinel', message: 'absent' };

function fakeNode() {
  const patches: V1NodeCondition[] = [];
  let condition: V1NodeCondition | undefined;
  let release: (() => void) | undefined;
  let slow = false;
  const api: NodeApi = {
    read: async () =>
      ({ metadata: { name: 'n' }, status: { conditions: condition ? [condition] : [] } }) as V1Node,
    patchCondition: async (c) => {
      if (slow) await new Promise<void>((r) => (release = r));
      patches.push(c);
      condition = c;
    },
    patchMetadata: async () => ({}) as V1Node,
    update: async () => ({}) as V1Node,
  };
  return {
    api,
    patches,
    slowDown: () => (slow = true),
    release: () => {
      slow = false;
      release?.();
    },
  };
}

describe('Reporter', () => {
  it('patches on a change, not again while nothing changes, and again after the heartbeat interval', async () => {
    const node = fakeNode();
    let now = new Date('2026-11-25T00:00:00Z');
    const r = new Reporter({ node: node.api, maxRebootAttempts: 3, heartbeatMs: 300_000, now: () => now });
    expect(await r.report(absent)).toBe(true);
    expect(await r.report(absent)).toBe(false);
    now = new Date(now.getTime() + 299_000);
    expect(await r.report(absent)).toBe(false);
    now = new Date(now.getTime() + 2_000);
    expect(await r.report(absent)).toBe(true);
    expect(await r.report(present)).toBe(true);
    expect(node.patches.map((p) => p.status)).toEqual(['False', 'False', 'True']);
    // The heartbeat kept the transition time; the change moved it.
    expect(node.patches[1]?.lastTransitionTime).toEqual(node.patches[0]?.lastTransitionTime);
    expect(node.patches[2]?.lastTransitionTime).toEqual(now);
  });

  it('never loses a reading that changes while a patch is in flight', async () => {
    const node = fakeNode();
    const r = new Reporter({
      node: node.api,
      maxRebootAttempts: 3,
      heartbeatMs: 300_000,
      now: () => new Date(),
    });
    node.slowDown();
    const first = r.report(absent);
    await new Promise((res) => setTimeout(res, 10));
    const second = r.report(present); // arrives while the first patch hangs
    node.release();
    await Promise.all([first, second]);
    expect(node.patches.map((p) => p.status)).toEqual(['False', 'True']);
  });
});
