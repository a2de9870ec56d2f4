import { describe, expect, it } from 'vitest';
import { LeaderElector, type LeaderLeaseStore, type LeaderRecord } from './leader.ts';

/** An in-memory Lease with resourceVersion semantics, and a switch to make it unreachable. */
class FakeStore {
  record: LeaderRecord | undefined;
  version = 0;
  down = false;
  reads = 0;
  for(_who: string): LeaderLeaseStore {
    return {
      read: async () => {
        if (this.down) throw new Error('connection refused');
        this.reads++;
        return this.record ? { record: { ...this.record }, version: String(this.version) } : undefined;
      },
      create: async (r) => {
        if (this.down) throw new Error('connection refused');
        if (this.record) return undefined;
        this.record = r;
        this.version++;
        return String(this.version);
      },
      replace: async (r, v) => {
        if (this.down) throw new Error('connection refused');
        if (String(this.version) !== v) return undefined;
        this.record = r;
        this.version++;
        return String(this.version);
      },
    };
  }
}

const timing = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

function elector(store: FakeStore, identity: string, clock: { t: number }, events: string[] = []) {
  return new LeaderElector({
    identity,
    store: store.for(identity),
    ...timing,
    now: () => clock.t,
    onStartedLeading: () => events.push(`${identity}:start`),
    onStoppedLeading: (why) => events.push(`${identity}:stop:${why}`),
  });
}

describe('LeaderElector', () => {
  it('acquires a missing lease and keeps it by renewing', async () => {
    const store = new FakeStore();
    const clock = { t: 0 };
    const a = elector(store, 'a', clock);
    expect(await a.tick()).toBe(true);
    for (let i = 0; i < 10; i++) {
      clock.t += timing.retryPeriodMs;
      expect(await a.tick()).toBe(true);
    }
    expect(store.record?.holder).toBe('a');
    expect(store.record?.renewTime).toBe(new Date(clock.t).toISOString());
    // Each renewal is one compare-and-swap on the version it last wrote: no read before it.
    expect(store.reads).toBe(1);
  });

  it('a follower waits a full lease duration of silence before taking over, then takes over', async () => {
    const store = new FakeStore();
    const clock = { t: 0 };
    const a = elector(store, 'a', clock);
    const b = elector(store, 'b', clock);
    await a.tick();
    expect(await b.tick()).toBe(false);
    // a dies: no more renewals. b ticks on.
    let takenAt = -1;
    for (let i = 1; i <= 10 && takenAt < 0; i++) {
      clock.t += timing.retryPeriodMs;
      if (await b.tick()) takenAt = clock.t;
    }
    expect(takenAt).toBeGreaterThanOrEqual(timing.leaseDurationMs);
    expect(store.record).toMatchObject({ holder: 'b', transitions: 1 });
  });

  it('never has two leaders at a tick, whatever the interleaving', async () => {
    const store = new FakeStore();
    const clock = { t: 0 };
    const a = elector(store, 'a', clock);
    const b = elector(store, 'b', clock);
    for (let i = 0; i < 50; i++) {
      clock.t += 1_000;
      const order = i % 3 === 0 ? [a, b] : [b, a];
      for (const e of order) await e.tick();
      // a pauses for a while in the middle (a long GC, a stopped process).
      if (i === 20) clock.t += 20_000;
      expect([a.isLeader(), b.isLeader()].filter(Boolean).length).toBeLessThanOrEqual(1);
    }
  });

  it('stops leading as soon as it cannot renew within the renew deadline — before anyone may take over', async () => {
    const store = new FakeStore();
    const clock = { t: 0 };
    const events: string[] = [];
    const a = elector(store, 'a', clock, events);
    await a.tick();
    store.down = true;
    clock.t += timing.retryPeriodMs;
    expect(await a.tick()).toBe(true); // 2 s without a renewal: still within the deadline
    clock.t = timing.renewDeadlineMs;
    expect(a.isLeader()).toBe(false);
    expect(events).toEqual(['a:start', 'a:stop:could not renew in time']);
    // The deadline is shorter than the duration others wait: no overlap.
    expect(timing.renewDeadlineMs).toBeLessThan(timing.leaseDurationMs);
  });

  it('steps down when it finds another holder (its own lease was taken over)', async () => {
    const store = new FakeStore();
    const clock = { t: 0 };
    const events: string[] = [];
    const a = elector(store, 'a', clock, events);
    await a.tick();
    store.record = { holder: 'b', renewTime: 'x', acquireTime: 'x', transitions: 1 };
    store.version++;
    clock.t += 1000;
    expect(await a.tick()).toBe(false);
    expect(events.at(-1)).toBe('a:stop:b holds the lease');
  });

  it('refuses inconsistent timings', () => {
    expect(
      () =>
        new LeaderElector({
          identity: 'a',
          store: new FakeStore().for('a'),
          leaseDurationMs: 10_000,
          renewDeadlineMs: 10_000,
          retryPeriodMs: 2_000,
          now: () => 0,
        }),
    ).toThrow(/retry period < renew deadline < lease duration/);
  });
});
