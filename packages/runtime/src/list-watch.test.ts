import type { KubernetesObject } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { KubeApiError, type WatchEvent } from './kube-client.ts';
import { type ListResult, type ListWatchSource, superviseListWatch } from './list-watch.ts';

const obj = (name: string, rv: string, namespace?: string): KubernetesObject => ({
  metadata: { name, resourceVersion: rv, ...(namespace !== undefined ? { namespace } : {}) },
});

type Step =
  | { list: ListResult<KubernetesObject> }
  | { listFails: unknown }
  | { watch: WatchEvent<KubernetesObject>[]; after: 'end' | 'hang' | { fail: unknown } };

/** A source that plays a script: each list() and watch() call takes the next step. */
function scripted(steps: Step[]) {
  const calls: string[] = [];
  let i = 0;
  const next = () => {
    const s = steps[i++];
    if (s === undefined) return undefined;
    return s;
  };
  const source: ListWatchSource<KubernetesObject> = {
    async list() {
      calls.push('list');
      const s = next();
      if (s === undefined) return new Promise<never>(() => {});
      if ('listFails' in s) throw s.listFails;
      if (!('list' in s)) throw new Error(`script: expected a list step, got ${JSON.stringify(s)}`);
      return s.list;
    },
    async watch(rv, onEvent, signal) {
      calls.push(`watch@${rv}`);
      const s = next();
      if (s === undefined || !('watch' in s)) {
        // Out of script: hang until stopped.
        return new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
      }
      for (const e of s.watch) onEvent(e);
      if (s.after === 'end') return;
      if (s.after === 'hang')
        return new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
      throw s.after.fail;
    },
  };
  return { source, calls };
}

const quietLog = { info: () => {}, warn: () => {}, error: () => {} };

function informer(source: ListWatchSource<KubernetesObject>, clock = { t: 0 }) {
  const delays: number[] = [];
  const inf = superviseListWatch<KubernetesObject>({
    name: 'test',
    source,
    log: quietLog,
    initialBackoffMs: 100,
    maxBackoffMs: 400,
    sleep: async (ms) => {
      delays.push(ms);
      clock.t += ms;
    },
    now: () => clock.t,
    random: () => 0.5,
  });
  const seen: string[] = [];
  inf.onChange((event, o) => seen.push(o === undefined ? event : `${event} ${o.metadata?.name}`));
  return { inf, seen, delays };
}

const settle = () => new Promise((r) => setTimeout(r, 20));

describe('superviseListWatch', () => {
  it('lists, reports every object and a resync, then applies watch events from the list version', async () => {
    const { source, calls } = scripted([
      { list: { items: [obj('a', '1'), obj('b', '2')], resourceVersion: '10' } },
      {
        watch: [
          { type: 'MODIFIED', object: obj('a', '11') },
          { type: 'ADDED', object: obj('c', '12') },
          { type: 'DELETED', object: obj('b', '13') },
        ],
        after: 'hang',
      },
    ]);
    const { inf, seen } = informer(source);
    await inf.start();
    await settle();
    expect(calls).toEqual(['list', 'watch@10']);
    expect(seen).toEqual(['add a', 'add b', 'resync', 'update a', 'add c', 'delete b']);
    expect(inf.synced()).toBe(true);
    expect(inf.list().map((o) => o.metadata?.name)).toEqual(['a', 'c']);
    expect(inf.get('a')?.metadata?.resourceVersion).toBe('11');
    await inf.stop();
    expect(inf.synced()).toBe(false);
  });

  it('keys namespaced objects by namespace and name', async () => {
    const { source } = scripted([
      { list: { items: [obj('x', '1', 'ns1'), obj('x', '2', 'ns2')], resourceVersion: '5' } },
    ]);
    const { inf } = informer(source);
    await inf.start();
    expect(inf.get('x', 'ns1')?.metadata?.resourceVersion).toBe('1');
    expect(inf.get('x', 'ns2')?.metadata?.resourceVersion).toBe('2');
    expect(inf.get('x')).toBeUndefined();
    await inf.stop();
  });

  it('watches again from the last seen version (bookmarks included) when the server ends a watch', async () => {
    const clock = { t: 0 };
    const { source, calls } = scripted([
      { list: { items: [], resourceVersion: '10' } },
      { watch: [{ type: 'ADDED', object: obj('a', '11') }], after: 'end' },
      { watch: [{ type: 'BOOKMARK', object: obj('', '20') }], after: 'end' },
    ]);
    const { inf, delays } = informer(source, clock);
    await inf.start();
    await settle();
    expect(calls).toEqual(['list', 'watch@10', 'watch@11', 'watch@20']);
    expect(delays).toEqual([]);
    expect(inf.restarts()).toBe(0);
    await inf.stop();
  });

  it('lists again on 410 Gone, and reports what was deleted meanwhile', async () => {
    const { source, calls } = scripted([
      { list: { items: [obj('a', '1'), obj('b', '2')], resourceVersion: '10' } },
      { watch: [], after: { fail: new KubeApiError(410, '{"reason":"Expired"}', {}, 'WATCH') } },
      { list: { items: [obj('a', '1')], resourceVersion: '30' } },
    ]);
    const { inf, seen, delays } = informer(source);
    await inf.start();
    await settle();
    expect(calls).toEqual(['list', 'watch@10', 'list', 'watch@30']);
    expect(seen).toEqual(['add a', 'add b', 'resync', 'delete b', 'resync']);
    expect(delays).toEqual([]); // 410 is routine: no backoff, not counted as a restart
    expect(inf.restarts()).toBe(0);
    await inf.stop();
  });

  it('on a failure is unsynced, backs off exponentially up to the cap, and recovers', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const { source, calls } = scripted([
      { listFails: refused },
      { listFails: refused },
      { listFails: refused },
      { listFails: refused },
      { list: { items: [obj('a', '1')], resourceVersion: '10' } },
      { watch: [], after: { fail: new KubeApiError(500, '{}', {}, 'WATCH') } },
      { list: { items: [obj('a', '1')], resourceVersion: '11' } },
    ]);
    const { inf, delays } = informer(source);
    const syncedDuringBackoff: boolean[] = [];
    inf.onChange(() => syncedDuringBackoff.push(inf.synced()));
    await inf.start();
    await settle();
    expect(calls).toEqual(['list', 'list', 'list', 'list', 'list', 'watch@10', 'list', 'watch@11']);
    // 100, 200, 400, 400 (capped); a list that works with a watch that fails at once does not
    // reset it.
    expect(delays).toEqual([100, 200, 400, 400, 400]);
    expect(inf.restarts()).toBe(5);
    expect(inf.synced()).toBe(true);
    expect(inf.lastError()).toBeUndefined();
    await inf.stop();
  });

  it('starts the backoff over after a watch that delivered events', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const { source } = scripted([
      { listFails: refused },
      { listFails: refused },
      { list: { items: [], resourceVersion: '10' } },
      { watch: [{ type: 'ADDED', object: obj('a', '11') }], after: { fail: refused } },
      { listFails: refused },
      { list: { items: [], resourceVersion: '12' } },
    ]);
    const { inf, delays } = informer(source);
    await inf.start();
    await settle();
    expect(delays).toEqual([100, 200, 100, 200]);
    await inf.stop();
  });

  it('treats a watch that ends at once without events as a failure, so it cannot spin', async () => {
    const clock = { t: 0 };
    const { source, calls } = scripted([
      { list: { items: [], resourceVersion: '10' } },
      { watch: [], after: 'end' },
      { list: { items: [], resourceVersion: '10' } },
    ]);
    const { inf, delays } = informer(source, clock);
    await inf.start();
    await settle();
    expect(calls).toEqual(['list', 'watch@10', 'list', 'watch@10']);
    expect(delays).toEqual([100]);
    await inf.stop();
  });

  it('start() waits for the first successful list; stop() ends a start that never synced', async () => {
    const never: ListWatchSource<KubernetesObject> = {
      list: () => Promise.reject(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })),
      watch: async () => {},
    };
    const inf = superviseListWatch<KubernetesObject>({
      name: 'down',
      source: never,
      log: quietLog,
      initialBackoffMs: 5,
      maxBackoffMs: 5,
    });
    let started = false;
    const starting = inf.start().then(() => (started = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(started).toBe(false);
    expect(inf.synced()).toBe(false);
    expect(inf.restarts()).toBeGreaterThan(1);
    expect(inf.lastError()).toBe('ECONNREFUSED: refused');
    await inf.stop();
    await starting;
    expect(inf.synced()).toBe(false);
  });

  it('keeps running when a handler throws', async () => {
    const { source } = scripted([{ list: { items: [obj('a', '1')], resourceVersion: '1' } }]);
    const { inf } = informer(source);
    inf.onChange(() => {
      throw new Error('handler bug');
    });
    await inf.start();
    expect(inf.synced()).toBe(true);
    await inf.stop();
  });
});
