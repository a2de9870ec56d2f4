import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { type PodInformer, settleObserver } from './settle-observer.ts';

class FakeInformer implements PodInformer {
  started = false;
  stopped = false;
  isSynced = false;
  pods: V1Pod[] = [];
  handler: (() => void) | undefined;
  async start() {
    this.started = true;
  }
  async stop() {
    this.stopped = true;
  }
  synced() {
    return this.isSynced;
  }
  list() {
    return this.pods;
  }
  onChange(h: () => void) {
    this.handler = h;
  }
}

describe('settleObserver', () => {
  function setup() {
    const made = new Map<string, FakeInformer[]>();
    let changes = 0;
    const obs = settleObserver({
      podInformer: (node) => {
        const f = new FakeInformer();
        made.set(node, [...(made.get(node) ?? []), f]);
        return f;
      },
      onChange: () => changes++,
    });
    return { obs, made, changes: () => changes };
  }

  it('watches the pods of exactly the holders: starts new watches, stops released ones', () => {
    const s = setup();
    s.obs.facts(['a', 'b']);
    expect([...s.obs.watched()].sort()).toEqual(['a', 'b']);
    s.obs.facts(['b', 'c']);
    expect([...s.obs.watched()].sort()).toEqual(['b', 'c']);
    expect(s.made.get('a')?.[0]?.stopped).toBe(true);
    expect(s.made.get('b')).toHaveLength(1); // kept, not restarted
    expect(s.made.get('c')?.[0]?.started).toBe(true);
    s.obs.facts([]);
    expect(s.obs.watched()).toEqual([]);
  });

  it('pods are unobserved until the watch synced, then seen as they are; a pod change asks for a reconcile', () => {
    const s = setup();
    expect(s.obs.facts(['a']).get('a')?.pods.observed).toBe(false);
    const inf = s.made.get('a')?.[0];
    if (!inf) throw new Error('no informer');
    inf.isSynced = true;
    inf.pods = [{ metadata: { name: 'p', namespace: 'ns' }, status: { phase: 'Pending' } }];
    expect(s.obs.facts(['a']).get('a')?.pods).toMatchObject({ observed: true, notReady: ['ns/p'] });
    inf.handler?.();
    expect(s.changes()).toBe(1);
  });

  it('stop() stops every watch', async () => {
    const s = setup();
    s.obs.facts(['a', 'b']);
    await s.obs.stop();
    expect([...s.made.values()].flat().every((f) => f.stopped)).toBe(true);
  });
});
