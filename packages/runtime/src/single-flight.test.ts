import { describe, expect, it } from 'vitest';
import { singleFlight } from './single-flight.ts';

/** A job whose runs the test ends by hand. */
function gated<T>() {
  const runs: { resolve: (v: T) => void; reject: (e: unknown) => void }[] = [];
  const fn = () => new Promise<T>((resolve, reject) => runs.push({ resolve, reject }));
  return { fn, runs };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('singleFlight', () => {
  it('concurrent callers share one run and its value', async () => {
    const { fn, runs } = gated<number>();
    const f = singleFlight(fn);
    const a = f.run();
    const b = f.run();
    expect(b).toBe(a);
    expect(runs).toHaveLength(1);
    expect(f.running()).toBe(true);
    runs[0]?.resolve(7);
    expect(await Promise.all([a, b])).toEqual([7, 7]);
    expect(f.running()).toBe(false);
    // The next call after the flight starts a new run.
    const c = f.run();
    expect(runs).toHaveLength(2);
    runs[1]?.resolve(8);
    expect(await c).toBe(8);
  });

  it('without again, a call during a run only joins it', async () => {
    const { fn, runs } = gated<number>();
    const f = singleFlight(fn);
    const a = f.run();
    f.run();
    runs[0]?.resolve(1);
    await a;
    await tick();
    expect(runs).toHaveLength(1);
  });

  it('with again, calls during a run schedule exactly one more, and everyone gets its value', async () => {
    const { fn, runs } = gated<number>();
    const f = singleFlight(fn, { again: true });
    const a = f.run();
    const b = f.run();
    const c = f.run();
    expect(runs).toHaveLength(1);
    runs[0]?.resolve(1);
    await tick();
    expect(runs).toHaveLength(2);
    // A call during the second run schedules a third.
    const d = f.run();
    runs[1]?.resolve(2);
    await tick();
    expect(runs).toHaveLength(3);
    runs[2]?.resolve(3);
    expect(await Promise.all([a, b, c, d])).toEqual([3, 3, 3, 3]);
    await tick();
    expect(runs).toHaveLength(3);
    expect(f.running()).toBe(false);
  });

  it('combine folds the values of one flight', async () => {
    const { fn, runs } = gated<boolean>();
    const f = singleFlight(fn, { again: true, combine: (x, y) => x || y });
    const a = f.run();
    f.run();
    runs[0]?.resolve(true);
    await tick();
    runs[1]?.resolve(false);
    expect(await a).toBe(true);
  });

  it('an error reaches every waiter and drops the scheduled run; the next call starts afresh', async () => {
    const { fn, runs } = gated<number>();
    const f = singleFlight(fn, { again: true });
    const a = f.run();
    const b = f.run();
    runs[0]?.reject(new Error('boom'));
    await expect(a).rejects.toThrow('boom');
    await expect(b).rejects.toThrow('boom');
    await tick();
    expect(runs).toHaveLength(1);
    expect(f.running()).toBe(false);
    const c = f.run();
    runs[1]?.resolve(5);
    expect(await c).toBe(5);
  });

  it('settled() waits for the flight and never rejects', async () => {
    const { fn, runs } = gated<number>();
    const f = singleFlight(fn);
    await f.settled();
    const a = f.run().catch(() => undefined);
    let done = false;
    const s = f.settled().then(() => (done = true));
    await tick();
    expect(done).toBe(false);
    runs[0]?.reject(new Error('x'));
    await s;
    await a;
    expect(done).toBe(true);
  });

  it('starts the run synchronously inside the first call', () => {
    let started = 0;
    const f = singleFlight(async () => {
      started++;
    });
    void f.run();
    expect(started).toBe(1);
  });
});
