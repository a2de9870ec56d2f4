import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { KubernetesObject, V1ConfigMap } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { dropManagedFields, type ListResult, type ListWatchSource, superviseInformer } from './informer.ts';
import { KubeApiError, type WatchEvent } from './kube-client.ts';

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
  const inf = superviseInformer<KubernetesObject>({
    name: 'test',
    source,
    log: quietLog,
    initialBackoffMs: 100,
    maxBackoffMs: 400,
    watchdogMs: 0,
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

describe('superviseInformer', () => {
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
    const inf = superviseInformer<KubernetesObject>({
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

  it('keeps no listed object once the cache is filled, however long the watch runs', async () => {
    // The list of thousands of full Nodes must die after the projection, not live with the watch.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    let listedRef: WeakRef<object> | undefined;
    const source: ListWatchSource<KubernetesObject> = {
      async list() {
        const items: KubernetesObject[] = Array.from({ length: 100 }, (_, i) => ({
          metadata: { name: `n${i}`, resourceVersion: '1', labels: { big: 'x'.repeat(1000) } },
        }));
        listedRef = new WeakRef(items);
        return { items, resourceVersion: '1' };
      },
      watch: (_rv, _onEvent, signal) =>
        new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve())),
    };
    const informer = superviseInformer<KubernetesObject>({
      name: 'test',
      source,
      log: quietLog,
      watchdogMs: 60_000,
      project: (o) => ({ metadata: { name: o.metadata?.name } }),
    });
    await informer.start();
    expect(informer.list()).toHaveLength(100);
    for (let i = 0; i < 3; i++) {
      await settle();
      gc();
    }
    expect(listedRef?.deref()).toBeUndefined();
    await informer.stop();
  });
});

// The watchdog and trimming (ported from the client-node ListWatch wrapper's tests).
describe('superviseInformer: the watchdog and trimming', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  type Obj = V1ConfigMap;
  const cm = (name: string, rv = '1'): Obj => ({ metadata: { name, resourceVersion: rv } });

  /**
   * A source whose lists the test answers by hand (or, with `hangs(i)`, the i-th list never
   * answers until the test says so) and whose watches stay open until aborted; `push` delivers
   * an event to the open watch, `fail` makes it fail.
   */
  function manual(hangs: (i: number) => boolean = () => false) {
    const lists: { answer: (items: Obj[], rv?: string) => void }[] = [];
    let open:
      | { onEvent: (e: { type: 'ADDED' | 'MODIFIED'; object: Obj }) => void; fail: (err: unknown) => void }
      | undefined;
    let nextItems: Obj[] = [];
    const source: ListWatchSource<Obj> = {
      list: () =>
        new Promise<ListResult<Obj>>((resolve) => {
          const answer = (items: Obj[], rv = '1') => resolve({ items, resourceVersion: rv });
          lists.push({ answer });
          if (!hangs(lists.length - 1)) answer(nextItems);
        }),
      watch: (_rv, onEvent, signal) =>
        new Promise<void>((resolve, reject) => {
          open = { onEvent, fail: reject };
          signal.addEventListener('abort', () => resolve());
        }),
    };
    return {
      source,
      lists,
      setItems: (items: Obj[]) => (nextItems = items),
      push: (o: Obj) => open?.onEvent({ type: 'MODIFIED', object: o }),
      fail: (err: unknown) => open?.fail(err),
    };
  }

  function setup(m: ReturnType<typeof manual>, watchdogMs = 60_000, trim?: (o: Obj) => void) {
    const events: string[] = [];
    const informer = superviseInformer<Obj>({
      name: 'test',
      source: m.source,
      log: quietLog,
      initialBackoffMs: 100,
      watchdogMs,
      ...(trim ? { trim } : {}),
    });
    informer.onChange((e) => events.push(e));
    return { informer, events };
  }

  it('trims every listed and watched object in place before the handlers see it (the cached object is the same)', async () => {
    const m = manual();
    m.setItems([
      { metadata: { name: 'l', resourceVersion: '1', managedFields: [{ manager: 'm' }] }, data: { x: 'y' } },
    ]);
    const s = setup(m, undefined, (o) => {
      dropManagedFields(o);
      delete o.data;
    });
    const seen: (Obj | undefined)[] = [];
    s.informer.onChange((_e, o) => seen.push(o));
    await s.informer.start();
    expect(s.informer.list()).toEqual([{ metadata: { name: 'l', resourceVersion: '1' } }]);
    const obj: Obj = {
      metadata: { name: 'a', resourceVersion: '2', managedFields: [{ manager: 'kubectl' }] },
      data: { big: 'x'.repeat(1000) },
    };
    m.push(obj);
    expect(obj).toEqual({ metadata: { name: 'a', resourceVersion: '2' } });
    expect(seen.at(-1)).toBe(obj);
    expect(s.informer.get('a')).toBe(obj);
    await s.informer.stop();
  });

  it('caches and hands on the projection of every listed and watched object, not the object', async () => {
    const m = manual();
    const listed: Obj = { metadata: { name: 'l', resourceVersion: '1' }, data: { x: 'y' } };
    m.setItems([listed]);
    const informer = superviseInformer<Obj>({
      name: 'test',
      source: m.source,
      log: quietLog,
      watchdogMs: 60_000,
      project: (o) => ({
        metadata: { name: o.metadata?.name, resourceVersion: o.metadata?.resourceVersion },
      }),
    });
    const seen: (Obj | undefined)[] = [];
    informer.onChange((_e, o) => seen.push(o));
    await informer.start();
    expect(informer.list()).toEqual([{ metadata: { name: 'l', resourceVersion: '1' } }]);
    expect(listed.data).toEqual({ x: 'y' });
    const watched: Obj = { metadata: { name: 'a', resourceVersion: '2' }, data: { big: 'x'.repeat(1000) } };
    m.push(watched);
    expect(informer.get('a')).toEqual({ metadata: { name: 'a', resourceVersion: '2' } });
    expect(informer.get('a')).not.toBe(watched);
    expect(seen.at(-1)).toBe(informer.get('a'));
    await informer.stop();
  });

  it('restarts after an error with backoff, not synced meanwhile, and names the error', async () => {
    const m = manual();
    const s = setup(m);
    await s.informer.start();
    await vi.advanceTimersByTimeAsync(2_000);
    m.fail({ code: 403, body: '{"reason":"Forbidden","message":"pods is forbidden"}' });
    await vi.advanceTimersByTimeAsync(1);
    expect(s.informer.synced()).toBe(false);
    expect(s.informer.lastError()).toBe('403 Forbidden: pods is forbidden');
    await vi.advanceTimersByTimeAsync(200);
    expect(m.lists).toHaveLength(2);
    expect(s.informer.synced()).toBe(true);
    expect(s.informer.restarts()).toBe(1);
    expect(s.informer.lastError()).toBeUndefined();
    await s.informer.stop();
  });

  it('events keep the watchdog quiet', async () => {
    const m = manual();
    const s = setup(m);
    await s.informer.start();
    for (let i = 0; i < 6; i++) {
      await vi.advanceTimersByTimeAsync(20_000);
      m.push(cm('a', String(i + 2)));
    }
    expect(m.lists).toHaveLength(1);
    expect(s.informer.restarts()).toBe(0);
    await s.informer.stop();
  });

  it('a quiet informer lists again (the periodic relist)', async () => {
    const m = manual();
    const s = setup(m);
    await s.informer.start();
    await vi.advanceTimersByTimeAsync(61_000);
    expect(m.lists).toHaveLength(2);
    expect(s.informer.restarts()).toBe(1);
    expect(s.events.filter((e) => e === 'resync')).toHaveLength(2);
    expect(s.informer.synced()).toBe(true);
    await s.informer.stop();
  });

  it('a list that hangs forever is abandoned by the watchdog; start() resolves once the new one synced', async () => {
    const m = manual((i) => i === 0);
    const s = setup(m);
    let started = false;
    const starting = s.informer.start().then(() => (started = true));
    await vi.advanceTimersByTimeAsync(30_000);
    expect(started).toBe(false);
    expect(s.informer.synced()).toBe(false);
    await vi.advanceTimersByTimeAsync(31_000);
    await starting;
    expect(m.lists).toHaveLength(2);
    expect(s.informer.synced()).toBe(true);
    // The abandoned list finishing late changes nothing.
    m.lists[0]?.answer([cm('late')]);
    await vi.advanceTimersByTimeAsync(1);
    expect(s.informer.list()).toEqual([]);
    await s.informer.stop();
  });

  it('while the new list runs, it is not synced and list() answers from the cache as it was', async () => {
    const m = manual((i) => i === 1);
    m.setItems([cm('a')]);
    const s = setup(m);
    await s.informer.start();
    await vi.advanceTimersByTimeAsync(61_000);
    expect(m.lists).toHaveLength(2);
    expect(s.informer.synced()).toBe(false);
    expect(s.informer.list().map((o) => o.metadata?.name)).toEqual(['a']);
    m.lists[1]?.answer([cm('b')]);
    await vi.advanceTimersByTimeAsync(1);
    expect(s.informer.synced()).toBe(true);
    expect(s.informer.list().map((o) => o.metadata?.name)).toEqual(['b']);
    await s.informer.stop();
  });

  it('watchdogMs 0 turns the watchdog off', async () => {
    const m = manual();
    const s = setup(m, 0);
    await s.informer.start();
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(m.lists).toHaveLength(1);
    await s.informer.stop();
  });
});
