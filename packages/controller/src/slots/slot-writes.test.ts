/**
 * The slot writer's compare-and-swap, against an in-memory Lease store with the API server's
 * rules (resourceVersion checked on replace, 409 on a stale one): every write acts on the very
 * grant it was decided on, never on a newer grant of the same node.
 */
import { SlotAnnotation } from '@baton/protocol';
import type { CoordinationV1Api, V1Lease } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { kubeSlotWriter } from './slot-writes.ts';

const NOW = new Date('2026-12-07T10:00:00.000Z');

class LeaseStore {
  leases = new Map<string, V1Lease>();
  #rv = 1;
  /** Runs once, just before the next replace is applied (another writer got in between). */
  beforeReplace: (() => void) | undefined;

  put(l: V1Lease): void {
    this.leases.set(l.metadata?.name ?? '', {
      ...structuredClone(l),
      metadata: { ...l.metadata, resourceVersion: String(++this.#rv) },
    });
  }

  api(): CoordinationV1Api {
    const api = {
      readNamespacedLease: async ({ name }: { name: string }) => {
        const l = this.leases.get(name);
        if (l === undefined) throw Object.assign(new Error('not found'), { code: 404 });
        return structuredClone(l);
      },
      createNamespacedLease: async ({ body }: { body: V1Lease }) => {
        const name = body.metadata?.name ?? '';
        if (this.leases.has(name))
          throw Object.assign(new Error('exists'), { code: 409, body: { reason: 'AlreadyExists' } });
        this.put(body);
        return body;
      },
      replaceNamespacedLease: async ({ name, body }: { name: string; body: V1Lease }) => {
        const hook = this.beforeReplace;
        this.beforeReplace = undefined;
        hook?.();
        const current = this.leases.get(name);
        if (current?.metadata?.resourceVersion !== body.metadata?.resourceVersion)
          throw Object.assign(new Error('conflict'), { code: 409, body: { reason: 'Conflict' } });
        this.put(body);
        return body;
      },
    };
    return api as unknown as CoordinationV1Api;
  }
}

const grantOf = (node: string, id: string, extra: Record<string, string> = {}): V1Lease => ({
  metadata: {
    name: 'baton-slot-0',
    annotations: { [SlotAnnotation.GrantedNode]: node, [SlotAnnotation.GrantId]: id, ...extra },
  },
  spec: { holderIdentity: node, acquireTime: NOW, renewTime: NOW, leaseDurationSeconds: 300 },
});

const writer = (store: LeaseStore, ids: string[] = ['new-id']) =>
  kubeSlotWriter(store.api(), 'baton', 300, {
    now: () => NOW,
    sleep: async () => {},
    newGrantId: () => ids.shift() ?? 'x',
  });

describe('slot writes act on the grant they were decided on', () => {
  it('a stale release never empties a newer grant of the same node', async () => {
    // Issue 14, point 4: releases checked only the holder's name. A replica that decided to
    // release node a's first grant, and wrote after another replica had released it and granted
    // a again, emptied the new grant — while a was draining or rebooting under it.
    const store = new LeaseStore();
    store.put(grantOf('a', 'g1'));
    store.beforeReplace = () => store.put(grantOf('a', 'g2'));
    expect(await writer(store).release('baton-slot-0', 'a', 'g1')).toBe(false);
    expect(store.leases.get('baton-slot-0')?.spec?.holderIdentity).toBe('a');
    expect(store.leases.get('baton-slot-0')?.metadata?.annotations?.[SlotAnnotation.GrantId]).toBe('g2');
  });

  it('a release decided because the node did nothing, or is gone, never frees an acknowledged slot', async () => {
    // The controller's Lease cache may not show yet the acknowledgement it wrote itself; the
    // release and the acknowledgement are both writes on the Lease: one of them loses.
    const started = new LeaseStore();
    started.put(grantOf('a', 'g1', { [SlotAnnotation.Started]: 'true' }));
    expect(await writer(started).release('baton-slot-0', 'a', 'g1', { unacknowledged: 'any' })).toBe(false);
    // A deleted Node's slot may go once its start, not its reboot, was acknowledged.
    expect(await writer(started).release('baton-slot-0', 'a', 'g1', { unacknowledged: 'reboot' })).toBe(true);
    const rebooting = new LeaseStore();
    rebooting.put(
      grantOf('a', 'g1', { [SlotAnnotation.Started]: 'true', [SlotAnnotation.RebootFromBootId]: 'b1' }),
    );
    for (const unacknowledged of ['any', 'reboot'] as const)
      expect(await writer(rebooting).release('baton-slot-0', 'a', 'g1', { unacknowledged })).toBe(false);
    expect(rebooting.leases.get('baton-slot-0')?.spec?.holderIdentity).toBe('a');
  });

  it('releases the grant it was decided on, and leaves nothing of it behind', async () => {
    const store = new LeaseStore();
    store.put(grantOf('a', 'g1', { [SlotAnnotation.RebootFromBootId]: 'b1' }));
    expect(await writer(store).release('baton-slot-0', 'a', 'g1')).toBe(true);
    const l = store.leases.get('baton-slot-0');
    expect(l?.spec?.holderIdentity).toBeUndefined();
    expect(Object.keys(l?.metadata?.annotations ?? {}).filter((k) => k.startsWith('baton.dev/'))).toEqual([]);
  });

  it('renews and acknowledges only the very grant, never a newer one', async () => {
    const store = new LeaseStore();
    store.put(grantOf('a', 'g2'));
    const w = writer(store);
    expect(await w.renew('baton-slot-0', { node: 'a', grantId: 'g1' })).toBe(false);
    expect(await w.acknowledge('baton-slot-0', { node: 'a', grantId: 'g1' }, 'b1')).toBe(false);
    expect(
      store.leases.get('baton-slot-0')?.metadata?.annotations?.[SlotAnnotation.RebootFromBootId],
    ).toBeUndefined();
    expect(await w.acknowledge('baton-slot-0', { node: 'a', grantId: 'g2' }, 'b1')).toBe(true);
    expect(store.leases.get('baton-slot-0')?.metadata?.annotations?.[SlotAnnotation.RebootFromBootId]).toBe(
      'b1',
    );
  });

  it('grants only a free slot, with a new grant id and nothing inherited from an earlier grant', async () => {
    const store = new LeaseStore();
    // Emptied by hand: the holder gone, the old grant's annotations left behind.
    const left = grantOf('a', 'g1', { [SlotAnnotation.RebootFromBootId]: 'b1' });
    left.spec = { leaseDurationSeconds: 300 };
    store.put(left);
    expect(await writer(store, ['g7']).grant('baton-slot-0', 'b', false, '{"workloads":[],"pdbs":[]}')).toBe(
      true,
    );
    const ann = store.leases.get('baton-slot-0')?.metadata?.annotations ?? {};
    expect(ann[SlotAnnotation.GrantId]).toBe('g7');
    expect(ann[SlotAnnotation.GrantedNode]).toBe('b');
    expect(ann[SlotAnnotation.RebootFromBootId]).toBeUndefined();
    // Taken meanwhile: no second holder.
    expect(await writer(store).grant('baton-slot-0', 'c')).toBe(false);
    expect(store.leases.get('baton-slot-0')?.spec?.holderIdentity).toBe('b');
  });
});
