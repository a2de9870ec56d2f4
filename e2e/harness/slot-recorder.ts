/**
 * Records every change of the slot Leases of a namespace through a watch (not by polling, so no
 * moment between two polls goes unseen) and checks at each resourceVersion how many slots name a
 * node. The watch restarts from the last resourceVersion seen after client-node's inactivity
 * timeout, and relists after a 410.
 */
import { SlotAnnotation, slotIndexOf } from '@baton/protocol';
import { CoordinationV1Api, type KubeConfig, type V1Lease, Watch } from '@kubernetes/client-node';

export interface HolderSample {
  readonly resourceVersion: string;
  readonly holders: readonly string[];
}

export class SlotRecorder {
  readonly #kc: KubeConfig;
  readonly #ns: string;
  readonly #isNode: (name: string) => boolean;
  readonly #slots = new Map<string, V1Lease>();
  #rv = '';
  #stopped = false;
  #abort: AbortController | undefined;
  /** Every sample, in order. */
  readonly samples: HolderSample[] = [];
  /**
   * Every grant seen, once each: by its identity (slot and grant id), or for a holder without a
   * grant id (written by hand) by slot, holder and acquireTime.
   */
  readonly grants: { slot: string; node: string; acquireTime: string; grantId: string | undefined }[] = [];
  readonly #seenGrants = new Set<string>();
  maxHolders = 0;
  errors: string[] = [];

  constructor(kc: KubeConfig, namespace: string, isNode: (name: string) => boolean) {
    this.#kc = kc;
    this.#ns = namespace;
    this.#isNode = isNode;
  }

  async start(): Promise<void> {
    await this.#list();
    void this.#watch();
  }

  stop(): void {
    this.#stopped = true;
    this.#abort?.abort();
  }

  /** Slots that name a node now. */
  holders(): string[] {
    return [...this.#slots.values()]
      .map((l) => l.spec?.holderIdentity ?? '')
      .filter((h) => h !== '' && this.#isNode(h));
  }

  /** Grants seen for one node. */
  grantsOf(node: string): number {
    return this.grants.filter((g) => g.node === node).length;
  }

  async #list(): Promise<void> {
    const api = this.#kc.makeApiClient(CoordinationV1Api);
    const res = await api.listNamespacedLease({ namespace: this.#ns });
    this.#slots.clear();
    for (const l of res.items) this.#apply('ADDED', l);
    this.#rv = res.metadata?.resourceVersion ?? '';
    this.#sample(this.#rv);
  }

  #apply(type: string, l: V1Lease): void {
    const name = l.metadata?.name ?? '';
    if (slotIndexOf(name) === undefined) return;
    if (type === 'DELETED') this.#slots.delete(name);
    else this.#slots.set(name, l);
    const holder = l.spec?.holderIdentity ?? '';
    if (type !== 'DELETED' && holder !== '' && this.#isNode(holder)) {
      const acquireTime = String(l.spec?.acquireTime ?? '');
      const grantId = l.metadata?.annotations?.[SlotAnnotation.GrantId];
      const key = grantId === undefined ? `${name}|${holder}|${acquireTime}` : `${name}/${grantId}`;
      if (!this.#seenGrants.has(key)) {
        this.#seenGrants.add(key);
        this.grants.push({ slot: name, node: holder, acquireTime, grantId });
      }
    }
  }

  #sample(resourceVersion: string): void {
    const holders = this.holders();
    this.samples.push({ resourceVersion, holders });
    this.maxHolders = Math.max(this.maxHolders, holders.length);
  }

  async #watch(): Promise<void> {
    const w = new Watch(this.#kc);
    while (!this.#stopped) {
      const done = new Promise<unknown>((resolve) => {
        void w
          .watch(
            `/apis/coordination.k8s.io/v1/namespaces/${this.#ns}/leases`,
            { resourceVersion: this.#rv, allowWatchBookmarks: true },
            (type: string, obj: V1Lease & { code?: number }) => {
              if (type === 'ERROR') {
                if (obj.code === 410) this.#rv = '';
                return;
              }
              this.#rv = obj.metadata?.resourceVersion ?? this.#rv;
              if (type === 'BOOKMARK') return;
              this.#apply(type, obj);
              this.#sample(this.#rv);
            },
            (err: unknown) => resolve(err),
          )
          .then((ac) => {
            this.#abort = ac;
            if (this.#stopped) ac.abort();
          }, resolve);
      });
      const err = await done;
      if (this.#stopped) return;
      if (err && (err as { name?: string }).name !== 'TimeoutError') this.errors.push(String(err));
      if (this.#rv === '') {
        try {
          await this.#list();
        } catch (e) {
          this.errors.push(String(e));
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    }
  }
}
