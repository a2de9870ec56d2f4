import type { KubeConfig, KubernetesListObject, V1ConfigMap } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { dropManagedFields, type ListWatchLike, superviseInformer, trimmedList } from './informer.ts';
import { createLogger } from './logger.ts';

type Obj = V1ConfigMap;
type Cb = (x: never) => void;

/** A ListWatch whose list the test completes (or never completes) by hand. */
class FakeListWatch implements ListWatchLike<Obj> {
  readonly cbs = new Map<string, Cb[]>();
  objects: Obj[] = [];
  rv = '';
  stopped = false;
  starts = 0;
  #finishList: (() => void) | undefined;
  /** The next start() hangs until listed() is called. */
  hang = false;

  async start(): Promise<void> {
    this.starts++;
    if (this.hang) await new Promise<void>((r) => (this.#finishList = r));
    else this.listed();
  }
  listed(objects: Obj[] = this.objects, rv = '1'): void {
    this.objects = objects;
    this.rv = rv;
    this.#finishList?.();
  }
  async stop(): Promise<void> {
    this.stopped = true;
  }
  on(verb: string, cb: Cb): void {
    this.cbs.set(verb, [...(this.cbs.get(verb) ?? []), cb]);
  }
  fire(verb: 'add' | 'update' | 'delete' | 'error', arg: unknown): void {
    for (const cb of this.cbs.get(verb) ?? []) cb(arg as never);
  }
  list(): readonly Obj[] {
    return this.objects;
  }
  get(name: string): Obj | undefined {
    return this.objects.find((o) => o.metadata?.name === name);
  }
  latestResourceVersion(): string {
    return this.rv;
  }
}

const cm = (name: string): Obj => ({ metadata: { name, resourceVersion: '1' } });

describe('superviseInformer', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** `hangs(i)`: whether the i-th ListWatch made hangs in its list. */
  function setup(hangs: (i: number) => boolean = () => false, watchdogMs = 60_000, trim?: (o: Obj) => void) {
    const made: FakeListWatch[] = [];
    const events: string[] = [];
    const informer = superviseInformer<Obj>({
      name: 'test',
      kubeConfig: {} as KubeConfig,
      path: '/api/v1/configmaps',
      list: async () => ({ items: [] }) as KubernetesListObject<Obj>,
      log: createLogger({ name: 'test', format: 'json', level: 'silent' }),
      initialBackoffMs: 100,
      watchdogMs,
      now: () => Date.now(),
      ...(trim ? { trim } : {}),
      createListWatch: () => {
        const f = new FakeListWatch();
        f.hang = hangs(made.length);
        made.push(f);
        return f;
      },
    });
    informer.onChange((e) => events.push(e));
    return { informer, made, events };
  }

  it('trims every watched object in place before the handlers see it (the cached object is the same)', async () => {
    const s = setup(undefined, undefined, (o) => {
      dropManagedFields(o);
      delete o.data;
    });
    const seen: (Obj | undefined)[] = [];
    s.informer.onChange((_e, o) => seen.push(o));
    await s.informer.start();
    const obj: Obj = {
      metadata: { name: 'a', resourceVersion: '2', managedFields: [{ manager: 'kubectl' }] },
      data: { big: 'x'.repeat(1000) },
    };
    s.made[0]?.fire('add', obj);
    expect(obj).toEqual({ metadata: { name: 'a', resourceVersion: '2' } });
    expect(seen.at(-1)).toBe(obj);
    await s.informer.stop();
  });

  it('trims every item of a list', async () => {
    const list = trimmedList<Obj>(
      async () =>
        ({
          items: [
            { metadata: { name: 'a', managedFields: [{ manager: 'm' }] } },
            { metadata: { name: 'b' } },
          ],
        }) as KubernetesListObject<Obj>,
      dropManagedFields,
    );
    expect((await list()).items).toEqual([{ metadata: { name: 'a' } }, { metadata: { name: 'b' } }]);
  });

  it('is synced after the first list and says so with a resync', async () => {
    const s = setup();
    await s.informer.start();
    expect(s.informer.synced()).toBe(true);
    expect(s.events).toEqual(['resync']);
    await s.informer.stop();
    expect(s.informer.synced()).toBe(false);
  });

  it('restarts after an error with backoff, not synced meanwhile', async () => {
    const s = setup();
    await s.informer.start();
    s.made[0]?.fire('error', { code: 403, body: '{"reason":"Forbidden","message":"pods is forbidden"}' });
    expect(s.informer.synced()).toBe(false);
    expect(s.informer.lastError()).toBe('403 Forbidden: pods is forbidden');
    await vi.advanceTimersByTimeAsync(200);
    expect(s.made[0]?.starts).toBe(2);
    expect(s.informer.synced()).toBe(true);
    expect(s.informer.restarts()).toBe(1);
    expect(s.informer.lastError()).toBeUndefined();
    await s.informer.stop();
  });

  it('events keep the watchdog quiet', async () => {
    const s = setup();
    await s.informer.start();
    for (let i = 0; i < 6; i++) {
      await vi.advanceTimersByTimeAsync(20_000);
      s.made[0]?.fire('update', cm('a'));
    }
    expect(s.made).toHaveLength(1);
    expect(s.informer.restarts()).toBe(0);
    await s.informer.stop();
  });

  it('a quiet informer is replaced by a fresh one that lists again (the periodic relist)', async () => {
    const s = setup();
    await s.informer.start();
    const first = s.made[0];
    first?.listed([cm('old')]);
    await vi.advanceTimersByTimeAsync(61_000);
    expect(s.made).toHaveLength(2);
    expect(first?.stopped).toBe(true);
    expect(s.informer.restarts()).toBe(1);
    expect(s.events.filter((e) => e === 'resync')).toHaveLength(2);
    expect(s.informer.synced()).toBe(true);
    // Events of the replaced ListWatch no longer count.
    first?.fire('add', cm('ghost'));
    expect(s.events).not.toContain('add');
    await s.informer.stop();
  });

  it('a list that hangs forever is abandoned by the watchdog; start() resolves once the new one synced', async () => {
    const s = setup((i) => i === 0);
    let started = false;
    const starting = s.informer.start().then(() => (started = true));
    await vi.advanceTimersByTimeAsync(30_000);
    expect(started).toBe(false);
    expect(s.informer.synced()).toBe(false);
    await vi.advanceTimersByTimeAsync(31_000);
    await starting;
    expect(s.made).toHaveLength(2);
    expect(s.informer.synced()).toBe(true);
    // The abandoned list finishing late changes nothing.
    s.made[0]?.listed([cm('late')]);
    await vi.advanceTimersByTimeAsync(1);
    expect(s.informer.list()).toEqual([]);
    await s.informer.stop();
  });

  it('while the replacement lists, it is not synced and list() answers from the old cache', async () => {
    const s = setup((i) => i === 1);
    await s.informer.start();
    s.made[0]?.listed([cm('a')]);
    await vi.advanceTimersByTimeAsync(61_000);
    expect(s.made).toHaveLength(2);
    expect(s.informer.synced()).toBe(false);
    expect(s.informer.list().map((o) => o.metadata?.name)).toEqual(['a']);
    s.made[1]?.listed([cm('b')]);
    await vi.advanceTimersByTimeAsync(1);
    expect(s.informer.synced()).toBe(true);
    expect(s.informer.list().map((o) => o.metadata?.name)).toEqual(['b']);
    await s.informer.stop();
  });

  it('watchdogMs 0 turns the watchdog off', async () => {
    const s = setup(() => false, 0);
    await s.informer.start();
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(s.made).toHaveLength(1);
    await s.informer.stop();
  });
});
