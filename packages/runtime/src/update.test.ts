import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { updateWithRetry } from './update.ts';

interface Obj {
  rv: number;
  holder: string;
}

const conflict = () =>
  new ApiException(
    409,
    'x',
    JSON.stringify({ reason: 'Conflict', message: 'the object has been modified' }),
    {},
  );

/** A store with optimistic concurrency, like the API server's. */
function store(initial: Obj) {
  let current = { ...initial };
  let writes = 0;
  return {
    read: async () => ({ ...current }),
    write: async (o: Obj) => {
      if (o.rv !== current.rv) throw conflict();
      writes++;
      current = { ...o, rv: current.rv + 1 };
      return { ...current };
    },
    /** Someone else writes in between. */
    interfere: (holder: string) => (current = { holder, rv: current.rv + 1 }),
    get: () => current,
    writes: () => writes,
  };
}

describe('updateWithRetry', () => {
  it('writes the mutation of the fresh object', async () => {
    const s = store({ rv: 1, holder: '' });
    const res = await updateWithRetry(s.read, (o) => ({ ...o, holder: 'a' }), s.write);
    expect(res.changed).toBe(true);
    expect(s.get()).toEqual({ rv: 2, holder: 'a' });
  });

  it('re-reads after a conflict and decides again on what it finds (never overwrites)', async () => {
    const s = store({ rv: 1, holder: '' });
    let calls = 0;
    const res = await updateWithRetry(
      async () => {
        const o = await s.read();
        if (calls++ === 0) s.interfere('b'); // b wins the race after our first read
        return o;
      },
      (o) => (o.holder === '' ? { ...o, holder: 'a' } : undefined), // only take a free slot
      s.write,
      { sleep: async () => {} },
    );
    expect(res.changed).toBe(false);
    expect(s.get().holder).toBe('b');
    expect(s.writes()).toBe(0);
  });

  it('writes nothing when the mutation says no change', async () => {
    const s = store({ rv: 1, holder: 'a' });
    const res = await updateWithRetry(s.read, () => undefined, s.write);
    expect(res).toEqual({ changed: false, object: { rv: 1, holder: 'a' } });
    expect(s.writes()).toBe(0);
  });

  it('gives up after the configured attempts of constant conflicts, and rethrows other errors at once', async () => {
    let writes = 0;
    await expect(
      updateWithRetry(
        async () => ({ rv: 1 }),
        (o) => o,
        async () => {
          writes++;
          throw conflict();
        },
        { attempts: 3, sleep: async () => {} },
      ),
    ).rejects.toThrow();
    expect(writes).toBe(3);
    let forbiddenWrites = 0;
    await expect(
      updateWithRetry(
        async () => ({ rv: 1 }),
        (o) => o,
        async () => {
          forbiddenWrites++;
          throw new ApiException(403, 'x', '{"reason":"Forbidden"}', {});
        },
      ),
    ).rejects.toThrow();
    expect(forbiddenWrites).toBe(1);
  });
});
