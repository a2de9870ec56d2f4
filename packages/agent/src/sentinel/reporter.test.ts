import { Annotation, REBOOT_REQUIRED_CONDITION, RebootRequiredReason } from '@baton/protocol';
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
  let reads = 0;
  // As the API server answers: times to the second, as strings.
  const current = () =>
    JSON.parse(
      JSON.stringify({ metadata: { name: 'n' }, status: { conditions: condition ? [condition] : [] } }),
    ) as V1Node;
  const api: NodeApi = {
    read: async () => {
      reads++;
      return current();
    },
    patchCondition: async (c) => {
      if (slow) await new Promise<void>((r) => (release = r));
      patches.push(c);
      condition = c;
      return current();
    },
    patchMetadata: async () => ({}) as V1Node,
    update: async () => ({}) as V1Node,
  };
  return {
    api,
    patches,
    current,
    reads: () => reads,
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

  it('judges a repeated run by the node its patch left, not by an older watch copy, and reads nothing', async () => {
    const node = fakeNode();
    const now = new Date('2026-11-25T00:00:00.250Z');
    const r = new Reporter({ node: node.api, maxRebootAttempts: 3, heartbeatMs: 300_000, now: () => now });
    const before = node.current(); // the watch copy from before the patch: no condition
    node.slowDown();
    const first = r.report(present, before);
    await new Promise((res) => setTimeout(res, 10));
    const second = r.report(present, before); // a watch event arriving while the patch hangs
    node.release();
    expect(await first).toBe(true);
    expect(await second).toBe(true);
    expect(node.patches).toHaveLength(1);
    expect(node.reads()).toBe(0);
  });

  it('uses a watch copy that shows its own heartbeat, so a change made after the patch counts', async () => {
    const node = fakeNode();
    const now = new Date('2026-11-25T00:00:00.250Z');
    const r = new Reporter({ node: node.api, maxRebootAttempts: 1, heartbeatMs: 300_000, now: () => now });
    node.slowDown();
    const first = r.report(present); // no watch copy yet: one read
    await new Promise((res) => setTimeout(res, 10));
    // While the patch is in flight, the watch shows it and, after it, a person's annotation.
    const written = {
      type: REBOOT_REQUIRED_CONDITION,
      ...present,
      lastHeartbeatTime: '2026-11-25T00:00:00Z',
      lastTransitionTime: '2026-11-25T00:00:00Z',
    };
    const after = {
      metadata: { name: 'n', annotations: { [Annotation.RebootAttempts]: '1' } },
      status: { conditions: [written] },
    } as unknown as V1Node;
    const second = r.report(present, after);
    node.release();
    await Promise.all([first, second]);
    expect(node.reads()).toBe(1);
    expect(node.patches.map((p) => p.reason)).toEqual([
      RebootRequiredReason.SentinelPresent,
      RebootRequiredReason.AttemptLimitReached,
    ]);
  });
});
