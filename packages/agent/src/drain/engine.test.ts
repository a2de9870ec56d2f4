import { Writable } from 'node:stream';
import { createLogger, type Logger } from '@baton/runtime';
import { ApiException, type V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import {
  type DrainDeps,
  type DrainLog,
  type DrainOptions,
  type DrainResult,
  drainNode,
  retryDelayMs,
} from './engine.ts';
import { FakeClock, FakeNode, pod, recordingEvents, recordingLog, T0 } from './fakes.ts';

const PDB = "Cannot evict pod as it would violate the pod's disruption budget.";

const baseOpts: DrainOptions = {
  gracePeriodSeconds: -1,
  timeoutMs: 0,
  skipWaitForDeleteTimeoutMs: 0,
  retryBackoffMs: 1000,
  pollIntervalMs: 1000,
  deleteEmptyDirData: true,
  evictUnmanagedPods: true,
};

interface Setup {
  readonly clock: FakeClock;
  readonly node: FakeNode;
  readonly log: ReturnType<typeof recordingLog>;
  readonly events: ReturnType<typeof recordingEvents>['events'];
  readonly deps: DrainDeps;
}

function setup(pods: V1Pod[], stillGranted: () => Promise<boolean> = async () => true): Setup {
  const clock = new FakeClock();
  const node = new FakeNode(clock, pods);
  const log = recordingLog();
  const { events, onEvent } = recordingEvents();
  return { clock, node, log, events, deps: { api: node, clock, log, stillGranted, onEvent } };
}

const drain = (s: Setup, opts: Partial<DrainOptions> = {}): Promise<DrainResult> =>
  drainNode('node-a', s.deps, { ...baseOpts, ...opts });

const blockedForever = (): { kind: 'blocked'; message: string } => ({ kind: 'blocked', message: PDB });

describe('drainNode', () => {
  it('evicts 110 pods in parallel, at most 20 at once, each once, in namespace/name order', async () => {
    const pods = Array.from({ length: 110 }, (_, i) =>
      pod(`p${String(i).padStart(3, '0')}`, { namespace: i % 2 === 0 ? 'a' : 'b' }),
    );
    const s = setup(pods);
    const result = await drain(s);

    expect(result).toMatchObject({ outcome: 'drained', evicted: 110, rounds: 2, elapsedMs: 1000 });
    expect(s.node.calls).toHaveLength(110);
    expect(new Set(s.node.calls.map((c) => c.opts.uid)).size).toBe(110);
    expect(s.node.maxInFlight).toBe(20);
    const order = s.node.calls.map((c) => `${c.namespace}/${c.name}`);
    expect(order).toEqual([...order].sort());
    expect(order[0]).toBe('a/p000');
    expect(order[55]).toBe('b/p001');
    expect(s.node.names()).toEqual([]);
    const rounds = s.events.filter((e) => e.type === 'round');
    expect(rounds).toEqual([
      { type: 'round', node: 'node-a', round: 1, pending: 110, blocked: 0 },
      { type: 'round', node: 'node-a', round: 2, pending: 0, blocked: 0 },
    ]);
    expect(s.events.filter((e) => e.type === 'evicted')).toHaveLength(110);
    expect(s.events.filter((e) => e.type === 'gone')).toHaveLength(110);
  });

  it('respects a lower concurrency', async () => {
    const s = setup(Array.from({ length: 10 }, (_, i) => pod(`p${i}`)));
    await drain(s, { concurrency: 3 });
    expect(s.node.calls).toHaveLength(10);
    expect(s.node.maxInFlight).toBe(3);
  });

  it('leaves DaemonSet, mirror, completed and unselected pods alone and is done without them', async () => {
    const s = setup([
      pod('fluentbit', { owner: 'DaemonSet' }),
      pod('etcd-node-a', { owner: 'none', mirror: true, namespace: 'kube-system' }),
      pod('job', { phase: 'Succeeded' }),
      pod('web', { labels: { drain: 'yes' } }),
      pod('other', { labels: { drain: 'no' } }),
    ]);
    const result = await drain(s, { podSelector: [{ key: 'drain', operator: 'In', values: ['yes'] }] });
    expect(result).toMatchObject({ outcome: 'drained', evicted: 1 });
    expect(s.node.calls.map((c) => c.name)).toEqual(['web']);
    expect(s.node.names().sort()).toEqual([
      'default/fluentbit',
      'default/job',
      'default/other',
      'kube-system/etcd-node-a',
    ]);
  });

  it('retries a PDB-blocked pod no sooner than its Retry-After, while others proceed', async () => {
    const s = setup([pod('db-0'), pod('web')]);
    s.node.behaviour = (call, n) =>
      call.name === 'db-0' && n <= 2 ? { kind: 'blocked', message: PDB, retryAfterSeconds: 7 } : undefined;
    const result = await drain(s, { retryBackoffMs: 1000 });

    expect(result).toMatchObject({ outcome: 'drained', evicted: 2 });
    const db = s.node.calls.filter((c) => c.name === 'db-0').map((c) => c.at);
    expect(db).toEqual([0, 7000, 14000]);
    expect(s.node.calls.filter((c) => c.name === 'web').map((c) => c.at)).toEqual([0]);
    const blocked = s.events.filter((e) => e.type === 'blocked');
    expect(blocked).toHaveLength(2);
    expect(blocked[0]).toMatchObject({ message: PDB, retryAfterSeconds: 7, retryInMs: 7000 });
    const warnings = s.log.entries.filter((e) => e.level === 'warn');
    expect(warnings).toHaveLength(2);
    expect(warnings[0]?.msg).toContain(PDB);
    expect(warnings[0]?.obj).toMatchObject({ node: 'node-a', pod: 'default/db-0', retryAfterSeconds: 7 });
  });

  it('backs off exponentially per pod, capped, without Retry-After', async () => {
    const s = setup([pod('db-0')]);
    s.node.behaviour = (_call, n) => (n <= 5 ? blockedForever() : undefined);
    const result = await drain(s, { retryBackoffMs: 1000, maxRetryBackoffMs: 4000 });
    expect(result.outcome).toBe('drained');
    const at = s.node.calls.map((c) => c.at);
    expect(at.slice(1).map((t, i) => t - (at[i] ?? 0))).toEqual([1000, 2000, 4000, 4000, 4000]);
  });

  it('sees a pod recreated under the same name as a new pod and evicts it too (kured #1169)', async () => {
    const s = setup([pod('db-0', { uid: 'uid-1' })]);
    s.node.terminationMs = 2000;
    s.node.replacements.set('uid-1', pod('db-0', { uid: 'uid-2' }));
    const result = await drain(s);

    expect(result).toMatchObject({ outcome: 'drained', evicted: 2 });
    expect(s.node.calls.map((c) => [c.name, c.opts.uid, c.at])).toEqual([
      ['db-0', 'uid-1', 0],
      ['db-0', 'uid-2', 2000],
    ]);
    expect(s.events.filter((e) => e.type === 'gone').map((e) => [e.pod.uid, e.how])).toEqual([
      ['uid-1', 'replaced'],
      ['uid-2', 'deleted'],
    ]);
    expect(result.elapsedMs).toBe(4000);
  });

  it('treats a 409 on the UID precondition as the old pod gone and evicts the new one next round', async () => {
    const s = setup([pod('db-0', { uid: 'uid-1' })]);
    s.node.behaviour = (call) => {
      // The StatefulSet controller replaced the pod between our list and our eviction.
      if (call.opts.uid === 'uid-1') s.node.add(pod('db-0', { uid: 'uid-2' }));
      return undefined;
    };
    const result = await drain(s);
    expect(result).toMatchObject({ outcome: 'drained', evicted: 1 });
    expect(s.node.calls.map((c) => c.opts.uid)).toEqual(['uid-1', 'uid-2']);
    expect(s.events.find((e) => e.type === 'gone')).toMatchObject({ pod: { uid: 'uid-1' }, how: 'replaced' });
  });

  it('stops as soon as the grant is revoked: no eviction after that check', async () => {
    const timeline: string[] = [];
    const answers = [true, true, false];
    const s = setup([pod('a'), pod('b'), pod('c')], async () => {
      const granted = answers.shift() ?? false;
      timeline.push(`granted:${granted}`);
      return granted;
    });
    s.node.behaviour = (call) => {
      timeline.push(`evict:${call.name}`);
      return call.name === 'a' ? blockedForever() : undefined;
    };
    const result = await drain(s, { retryBackoffMs: 1000 });

    expect(timeline).toEqual([
      'granted:true',
      'evict:a',
      'evict:b',
      'evict:c',
      'granted:true',
      'evict:a',
      'granted:false',
    ]);
    expect(result).toMatchObject({
      outcome: 'revoked',
      evicted: 2,
      rounds: 3,
      remaining: [{ name: 'a', state: 'blocked', lastBlocker: PDB }],
    });
  });

  it('does not even list pods when the grant is gone at the start', async () => {
    const s = setup([pod('a')], async () => false);
    const result = await drain(s);
    expect(result).toMatchObject({ outcome: 'revoked', evicted: 0, remaining: [] });
    expect(s.node.lists).toBe(0);
    expect(s.node.calls).toHaveLength(0);
  });

  it('times out on the clock, listing what is left and why, with no eviction after the deadline', async () => {
    const s = setup([pod('a'), pod('b'), pod('c')]);
    s.node.stuck.add('uid-default-b');
    s.node.behaviour = (call) => (call.name === 'a' ? blockedForever() : undefined);
    const result = await drain(s, { timeoutMs: 60_000, retryBackoffMs: 5000 });

    expect(result).toMatchObject({
      outcome: 'timeout',
      evicted: 2,
      elapsedMs: 60_000,
      remaining: [
        { namespace: 'default', name: 'a', uid: 'uid-default-a', state: 'blocked', lastBlocker: PDB },
        { namespace: 'default', name: 'b', uid: 'uid-default-b', state: 'terminating' },
      ],
      lastBlockers: [`default/a: ${PDB}`],
    });
    // 5 s, 10 s, 20 s, then 30 s (the cap) later would be 65 s: past the deadline.
    expect(s.node.calls.filter((c) => c.name === 'a').map((c) => c.at)).toEqual([0, 5000, 15_000, 35_000]);
    expect(s.node.calls.every((c) => c.at < 60_000)).toBe(true);
    const final = s.log.entries.at(-1);
    expect(final).toMatchObject({ level: 'warn', obj: { node: 'node-a', outcome: 'timeout' } });
    expect(final?.obj.remaining).toEqual(['default/a', 'default/b']);
  });

  it('ends at the deadline itself, not at the next poll or the next retry', async () => {
    const s = setup([pod('a')]);
    s.node.behaviour = () => ({ kind: 'blocked', message: PDB, retryAfterSeconds: 600 });
    const result = await drain(s, { timeoutMs: 2500, pollIntervalMs: 10_000 });
    expect(result).toMatchObject({ outcome: 'timeout', elapsedMs: 2500 });
    expect(s.clock.sleeps).toEqual([2500]);
  });

  it('refuses before evicting anything when a pod cannot be evicted safely', async () => {
    const s = setup([pod('cache', { emptyDir: ['data'] }), pod('debug', { owner: 'none' }), pod('web')]);
    const result = await drain(s, { deleteEmptyDirData: false, evictUnmanagedPods: false });
    expect(result.outcome).toBe('refused');
    if (result.outcome !== 'refused') return;
    expect(result.refused.map((r) => [r.pod.metadata?.name, r.reason])).toEqual([
      ['cache', 'has local data in emptyDir volume data; set --delete-emptydir-data to evict it'],
      ['debug', 'not managed by a controller; it would not come back; set --evict-unmanaged-pods'],
    ]);
    expect(s.node.calls).toHaveLength(0);
    expect(result.evicted).toBe(0);
  });

  it('refuses when an unsafe pod arrives mid-drain, having evicted only what came before', async () => {
    const s = setup([pod('web')]);
    s.node.terminationMs = 3000;
    s.clock.onSleep((now) => {
      if (now - T0 === 1000) s.node.add(pod('debug', { owner: 'none' }));
    });
    const result = await drain(s, { evictUnmanagedPods: false });
    expect(result).toMatchObject({ outcome: 'refused', evicted: 1, rounds: 2 });
    expect(s.node.calls.map((c) => c.name)).toEqual(['web']);
  });

  it.each([
    { grace: 15, expected: { gracePeriodSeconds: 15 } },
    { grace: 0, expected: { gracePeriodSeconds: 0 } },
    { grace: -1, expected: {} },
  ])('passes grace period $grace as $expected, with the UID precondition', async ({ grace, expected }) => {
    const s = setup([pod('a'), pod('b')]);
    await drain(s, { gracePeriodSeconds: grace });
    expect(s.node.calls.map((c) => c.opts)).toEqual([
      { ...expected, uid: 'uid-default-a' },
      { ...expected, uid: 'uid-default-b' },
    ]);
  });

  it('stops waiting for a pod stuck terminating past --skip-wait-for-delete-timeout', async () => {
    const s = setup([
      pod('stuck'),
      // Deleted an hour ago by someone else: not waited for, and not evicted again.
      pod('old', { deletionTimestamp: new Date(T0 - 3600_000) }),
    ]);
    s.node.stuck.add('uid-default-stuck');
    const result = await drain(s, { skipWaitForDeleteTimeoutMs: 30_000 });

    expect(result).toMatchObject({ outcome: 'drained', evicted: 1, elapsedMs: 31_000 });
    expect(s.node.calls.map((c) => c.name)).toEqual(['stuck']);
    expect(s.events.filter((e) => e.type === 'gone').map((e) => [e.pod.name, e.how])).toEqual([
      ['old', 'stuck-terminating'],
      ['stuck', 'stuck-terminating'],
    ]);
    // Both are still on the node: the engine stopped waiting, it did not delete them.
    expect(s.node.names().sort()).toEqual(['default/old', 'default/stuck']);
  });

  it('waits for a terminating pod when skip-wait is 0', async () => {
    const s = setup([pod('stuck')]);
    s.node.stuck.add('uid-default-stuck');
    const result = await drain(s, { timeoutMs: 120_000 });
    expect(result).toMatchObject({
      outcome: 'timeout',
      remaining: [{ name: 'stuck', state: 'terminating' }],
    });
  });

  it('is cancelled promptly by its AbortSignal while waiting', async () => {
    const s = setup([pod('a')]);
    s.node.behaviour = blockedForever;
    const abort = new AbortController();
    s.clock.onSleep((now) => {
      if (now - T0 >= 3000) abort.abort();
    });
    const result = await drain(s, { signal: abort.signal, retryBackoffMs: 1000, maxRetryBackoffMs: 1000 });
    expect(result).toMatchObject({ outcome: 'cancelled', elapsedMs: 3000, remaining: [{ name: 'a' }] });
    expect(s.node.calls.map((c) => c.at)).toEqual([0, 1000, 2000]);
  });

  it('stops starting evictions once aborted, but awaits those in flight', async () => {
    const s = setup(Array.from({ length: 10 }, (_, i) => pod(`p${i}`)));
    const abort = new AbortController();
    s.node.behaviour = (call) => {
      if (call.name === 'p2') abort.abort();
      return undefined;
    };
    const result = await drain(s, { signal: abort.signal, concurrency: 2 });
    expect(result.outcome).toBe('cancelled');
    expect(s.node.calls.length).toBeGreaterThanOrEqual(3);
    expect(s.node.calls.length).toBeLessThanOrEqual(4);
    expect(s.node.inFlight).toBe(0);
  });

  it('keeps draining when the event hook throws', async () => {
    const s = setup([pod('a'), pod('b')]);
    const result = await drainNode(
      'node-a',
      {
        ...s.deps,
        onEvent: () => {
          throw new Error('metrics broke');
        },
      },
      baseOpts,
    );
    expect(result).toMatchObject({ outcome: 'drained', evicted: 2 });
    expect(s.log.entries.filter((e) => e.msg === 'drain event handler failed').length).toBeGreaterThan(0);
  });

  it('does nothing when cancelled before it starts', async () => {
    const s = setup([pod('a')]);
    const result = await drain(s, { signal: AbortSignal.abort() });
    expect(result).toMatchObject({ outcome: 'cancelled', rounds: 0, evicted: 0 });
    expect(s.node.lists).toBe(0);
  });

  it('retries transient errors (listing and evicting) and reports them on timeout', async () => {
    const s = setup([pod('a'), pod('b')]);
    s.node.listErrors.push(new ApiException(503, 'unavailable', '{"message":"etcd leader changed"}', {}));
    s.node.behaviour = (call, n) =>
      call.name === 'a' && n === 1 ? new ApiException(500, 'boom', '{"message":"internal"}', {}) : undefined;
    const result = await drain(s);
    expect(result).toMatchObject({ outcome: 'drained', evicted: 2 });
    expect(s.node.calls.map((c) => [c.name, c.at])).toEqual([
      ['a', 1000],
      ['b', 1000],
      ['a', 2000],
    ]);

    const t = setup([pod('a')]);
    const down = new ApiException(503, 'unavailable', '{"message":"etcd leader changed"}', {});
    t.node.listErrors.push(...Array.from({ length: 100 }, () => down));
    const timedOut = await drain(t, { timeoutMs: 10_000 });
    expect(timedOut).toMatchObject({
      outcome: 'timeout',
      elapsedMs: 10_000,
      lastBlockers: ['listing the pods of node node-a: 503 ServiceUnavailable: etcd leader changed'],
    });
  });

  it('rejects on an error retrying cannot fix, after the evictions in flight, starting no more', async () => {
    const s = setup(Array.from({ length: 5 }, (_, i) => pod(`p${i}`)));
    const forbidden = new ApiException(403, 'forbidden', '{"message":"pods/eviction is forbidden"}', {});
    s.node.behaviour = (call) => (call.name === 'p1' ? forbidden : undefined);
    await expect(drain(s, { concurrency: 1 })).rejects.toBe(forbidden);
    expect(s.node.calls.map((c) => c.name)).toEqual(['p0', 'p1']);
    expect(s.log.entries.at(-1)).toMatchObject({
      level: 'error',
      obj: { node: 'node-a', pod: 'default/p1' },
    });

    const t = setup([pod('a')]);
    t.node.listErrors.push(forbidden);
    await expect(drain(t)).rejects.toBe(forbidden);
  });

  it('logs each eviction and the result with the node name, through a real pino logger', async () => {
    let out = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        out += chunk.toString();
        done();
      },
    });
    const logger: Logger = createLogger({
      name: 'agent',
      format: 'json',
      level: 'info',
      destination: sink,
    });
    const log: DrainLog = logger; // a pino Logger fits the engine's narrow interface
    const s = setup([pod('a'), pod('b')]);
    await drainNode('node-a', { ...s.deps, log }, baseOpts);
    const lines = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { msg: string; node: string });
    expect(lines.map((l) => l.msg)).toEqual([
      'draining node node-a',
      'evicted default/a from node node-a',
      'evicted default/b from node node-a',
      'drain of node node-a: drained',
    ]);
    expect(lines.every((l) => l.node === 'node-a')).toBe(true);
  });
});

describe('retryDelayMs', () => {
  it.each([
    { failures: 1, retryAfter: undefined, base: 1000, cap: 30_000, expected: 1000 },
    { failures: 3, retryAfter: undefined, base: 1000, cap: 30_000, expected: 4000 },
    { failures: 10, retryAfter: undefined, base: 1000, cap: 30_000, expected: 30_000 },
    { failures: 1, retryAfter: 60, base: 1000, cap: 30_000, expected: 60_000 },
    { failures: 4, retryAfter: 2, base: 1000, cap: 30_000, expected: 8000 },
    { failures: 3, retryAfter: undefined, base: 60_000, cap: 30_000, expected: 60_000 },
  ])(
    'failure $failures, Retry-After $retryAfter s → $expected ms',
    ({ failures, retryAfter, base, cap, expected }) => {
      expect(retryDelayMs(failures, retryAfter, base, cap)).toBe(expected);
    },
  );
});
