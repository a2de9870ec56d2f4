/**
 * The safety invariants of a rollout, checked on a stream of observed changes. Pure: the
 * recorder (invariant-recorder.ts) feeds it what its watches deliver; unit tests feed it scripted
 * sequences.
 *
 * Moments are resourceVersions. etcd gives every write one cluster-wide revision, so the slot
 * Leases "at the moment" a Node changed are the Lease versions with the greatest resourceVersion
 * not above the Node's. (resourceVersions are opaque to clients in general; a test recorder
 * against etcd may compare them, and says so here.) The Lease watch and the Node watch are two
 * streams that can be delivered in any interleaving, so a reboot check waits until the Lease
 * stream has been seen up to the Node change's resourceVersion (or the end) before it judges.
 *
 * Invariants:
 * - `over-concurrency`: more slots name a holder than the allowed concurrency, at some version;
 * - `double-grant`: two slots name the same node at once;
 * - `cordon-without-start`: a node's agent put its taint (`baton.dev/rebooting`, with the cordon)
 *   on it when no slot Lease naming the node carried the grant the agent recorded with the start
 *   acknowledged (`baton.dev/started`): the agent cordons only after reading that, fresh;
 * - `reboot-without-grant`: a node's agent entered `Rebooting` (a new `reboot-from-boot-id`
 *   record) when no slot Lease named its node with the grant the agent recorded on it
 *   (`baton.dev/grant`, `<slot>/<grant id>`). Judged by identity, as the protocol judges grants
 *   (grant.ts): a Lease's times, written with another machine's clock, decide nothing;
 * - `unrequested-reboot`: the fleet (ground truth) rebooted a node whose agent was never seen
 *   asking for that reboot;
 * - `unacknowledged-reboot`: the fleet rebooted a node whose request (the latest before that
 *   reboot) was never acknowledged: no version of its grant's Lease after the request carried
 *   that grant and the request's boot id as `baton.dev/reboot-from-boot-id`. The agent gives the
 *   reboot command only after reading that acknowledgement;
 * - `too-many-down`: more nodes were actually down at once (ground truth: from the fleet's reboot
 *   command until the node was up again) than the concurrency allows. The Lease checks cannot see
 *   this: an agent that gave up its grant while its machine went down anyway left every Lease
 *   version valid and the slot free for another node;
 * - end state: `left-cordoned`, `left-tainted`, `left-mid-reboot`, `not-rebooted`,
 *   `rebooted-more-than-once`, `slot-still-held`.
 */
import {
  AgentPhase,
  Annotation,
  grantNaming,
  grantOf,
  type LeaseLike,
  MANUAL_HOLDER_PREFIX,
  REBOOT_GATE_CONDITION,
  REBOOT_REQUIRED_CONDITION,
  REBOOTING_TAINT,
  RebootRequiredReason,
  SlotAnnotation,
  slotIndexOf,
  splitGrantIdentity,
} from '@baton/protocol';

export type ViolationKind =
  | 'over-concurrency'
  | 'double-grant'
  | 'cordon-without-start'
  | 'reboot-without-grant'
  | 'unrequested-reboot'
  | 'unacknowledged-reboot'
  | 'too-many-down'
  | 'left-cordoned'
  | 'left-tainted'
  | 'left-mid-reboot'
  | 'not-rebooted'
  | 'rebooted-more-than-once'
  | 'slot-still-held';

export interface Violation {
  readonly kind: ViolationKind;
  readonly node?: string;
  readonly resourceVersion?: string;
  readonly detail: string;
}

/** The fields of a Node that the checks read. */
export interface NodeLike {
  readonly metadata?: { readonly name?: string; readonly annotations?: Record<string, string> } | undefined;
  readonly spec?:
    | {
        readonly unschedulable?: boolean | undefined;
        readonly taints?: readonly { readonly key: string; readonly effect: string }[] | undefined;
      }
    | undefined;
  readonly status?:
    | {
        readonly conditions?:
          | readonly { readonly type: string; readonly status: string; readonly reason?: string }[]
          | undefined;
        readonly nodeInfo?: { readonly bootID?: string } | undefined;
      }
    | undefined;
}

export type WatchType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** A reboot request the agent recorded on its node: phase `Rebooting` with a from-boot-id. */
export interface RebootRequest {
  readonly node: string;
  readonly resourceVersion: string;
  /** The agent's phase-since (its clock, when it decided), or when the recorder saw it. */
  readonly at: Date;
  readonly fromBootId: string;
  /** The grant identity the agent recorded on its node (`baton.dev/grant`), if any. */
  readonly grant: string | undefined;
  /**
   * Undefined until judged; then whether a slot Lease named the node with the recorded grant
   * (same slot, same grant id) at that moment.
   */
  granted?: boolean;
  grantedBy?: string;
}

/** The agent's cordon as seen on its node: its taint appeared. */
export interface CordonRecord {
  readonly node: string;
  readonly resourceVersion: string;
  /** The grant identity the agent recorded on its node (`baton.dev/grant`), if any. */
  readonly grant: string | undefined;
  /** Undefined until judged; then whether that grant's Lease had the start acknowledged then. */
  started?: boolean;
}

/** A reboot as the fleet performed it (ground truth): when the agent's reboot command ran. */
export interface ObservedReboot {
  readonly node: string;
  readonly at: Date;
  /** When the node was up again (Ready with its new bootID); undefined while down. */
  readonly upAt?: Date | undefined;
}

/** A moment when more nodes were down than allowed. */
export interface DowntimeExcess {
  readonly at: Date;
  readonly nodes: readonly string[];
}

/**
 * The most nodes down at once in the fleet's log, and each moment the count rose above
 * `allowed`. A node is down from its reboot command until it is up again; one still down (or
 * never back) counts as down until `now`. A node that comes up at the very moment another goes
 * down is not counted twice.
 */
export function downtimeOverlap(
  reboots: readonly ObservedReboot[],
  allowed: number,
  now: Date,
): { max: number; excess: DowntimeExcess[] } {
  const edges: { t: number; up: boolean; node: string; id: number }[] = [];
  reboots.forEach((r, id) => {
    edges.push({ t: r.at.getTime(), up: false, node: r.node, id });
    edges.push({ t: (r.upAt ?? now).getTime(), up: true, node: r.node, id });
  });
  // At the same instant, ups before downs.
  edges.sort((a, b) => a.t - b.t || Number(b.up) - Number(a.up));
  const down = new Map<number, string>();
  let max = 0;
  const excess: DowntimeExcess[] = [];
  for (const e of edges) {
    if (e.up) {
      down.delete(e.id);
      continue;
    }
    down.set(e.id, e.node);
    max = Math.max(max, down.size);
    if (down.size > allowed) excess.push({ at: new Date(e.t), nodes: [...down.values()].sort() });
  }
  return { max, excess };
}

/** The node carries the agent's taint (an administrator's cordon does not). */
function hasOurTaint(n: NodeLike): boolean {
  return (
    n.spec?.taints?.some((t) => t.key === REBOOTING_TAINT.key && t.effect === REBOOTING_TAINT.effect) ?? false
  );
}

const rvNum = (rv: string): number => {
  const n = Number(rv);
  return Number.isFinite(n) ? n : 0;
};

const nameOf = (o: { metadata?: { name?: string } | undefined }): string => o.metadata?.name ?? '';

/** A slot's holder that counts against the concurrency: a non-empty name that is not a person's. */
export function countsAsHolder(holder: string | undefined): holder is string {
  return holder !== undefined && holder !== '' && !holder.startsWith(MANUAL_HOLDER_PREFIX);
}

export class InvariantChecker {
  readonly #concurrency: number;
  /** Per slot Lease, its versions in order: [resourceVersion, Lease or undefined when deleted]. */
  readonly #leaseHistory = new Map<string, [number, LeaseLike | undefined][]>();
  readonly #leases = new Map<string, LeaseLike>();
  readonly #nodes = new Map<string, NodeLike>();
  /** Highest resourceVersion up to which every Lease change has been delivered. */
  #leaseWatermark = 0;
  readonly #pending: RebootRequest[] = [];
  readonly requests: RebootRequest[] = [];
  readonly #pendingCordons: CordonRecord[] = [];
  /** Every cordon of an agent seen (its taint appearing on a node seen before). */
  readonly cordons: CordonRecord[] = [];
  readonly violations: Violation[] = [];
  maxHolders = 0;
  /** The most nodes actually down at once (the fleet's log). */
  maxDown = 0;
  readonly #downExcessSeen = new Set<string>();
  /** Lease versions checked. */
  samples = 0;

  constructor(concurrency: number) {
    this.#concurrency = concurrency;
  }

  // --- slot Leases ----------------------------------------------------------------------------

  /** One Lease change from the watch. */
  lease(type: WatchType, lease: LeaseLike & { metadata?: { resourceVersion?: string } }): void {
    const name = nameOf(lease);
    if (slotIndexOf(name) === undefined) return;
    const rv = lease.metadata?.resourceVersion ?? '';
    this.#setLease(name, type === 'DELETED' ? undefined : lease, rvNum(rv));
    this.#checkHolders(rv);
    this.leaseProgress(rv);
  }

  /** A full list (first sync or after a 410): the slots as they are at `rv`. */
  leaseList(leases: readonly LeaseLike[], rv: string): void {
    const seen = new Set<string>();
    for (const l of leases) {
      const name = nameOf(l);
      if (slotIndexOf(name) === undefined) continue;
      seen.add(name);
      this.#setLease(name, l, rvNum(rv));
    }
    for (const name of [...this.#leases.keys()])
      if (!seen.has(name)) this.#setLease(name, undefined, rvNum(rv));
    this.#checkHolders(rv);
    this.leaseProgress(rv);
  }

  /** The Lease stream has been delivered up to `rv` (an event, a list or a bookmark). */
  leaseProgress(rv: string): void {
    this.#leaseWatermark = Math.max(this.#leaseWatermark, rvNum(rv));
    this.#judgePending(false);
  }

  #setLease(name: string, lease: LeaseLike | undefined, rv: number): void {
    if (lease === undefined) this.#leases.delete(name);
    else this.#leases.set(name, lease);
    let h = this.#leaseHistory.get(name);
    if (!h) {
      h = [];
      this.#leaseHistory.set(name, h);
    }
    // Two sources (watch events, relists) can arrive out of order: keep versions sorted.
    let i = h.length;
    while (i > 0 && (h[i - 1] as [number, LeaseLike | undefined])[0] > rv) i--;
    h.splice(i, 0, [rv, lease]);
  }

  #checkHolders(rv: string): void {
    this.samples++;
    const holders = [...this.#leases.values()]
      .map((l) => l.spec?.holderIdentity)
      .filter(countsAsHolder)
      .sort();
    this.maxHolders = Math.max(this.maxHolders, holders.length);
    if (holders.length > this.#concurrency) {
      this.violations.push({
        kind: 'over-concurrency',
        resourceVersion: rv,
        detail: `${holders.length} slots name a holder (${holders.join(', ')}), allowed ${this.#concurrency}`,
      });
    }
    const dup = holders.find((h, i) => holders[i + 1] === h);
    if (dup !== undefined) {
      this.violations.push({
        kind: 'double-grant',
        node: dup,
        resourceVersion: rv,
        detail: `two slots name ${dup} at once`,
      });
    }
  }

  /** Current holders that count against the concurrency. */
  holders(): string[] {
    return [...this.#leases.values()].map((l) => l.spec?.holderIdentity).filter(countsAsHolder);
  }

  /** The slot Leases as they were at resourceVersion `rv`. */
  leasesAt(rv: number): LeaseLike[] {
    const out: LeaseLike[] = [];
    for (const versions of this.#leaseHistory.values()) {
      let at: LeaseLike | undefined;
      for (const [v, l] of versions) {
        if (v > rv) break;
        at = l;
      }
      if (at) out.push(at);
    }
    return out;
  }

  // --- Nodes ----------------------------------------------------------------------------------

  /** One Node change from the watch (or a Node of a list, as ADDED). */
  node(
    type: WatchType,
    node: NodeLike & { metadata?: { resourceVersion?: string } },
    observedAt: Date,
  ): void {
    const name = nameOf(node);
    if (name === '') return;
    const prev = this.#nodes.get(name);
    if (type === 'DELETED') {
      this.#nodes.delete(name);
      return;
    }
    this.#nodes.set(name, node);
    const ann = node.metadata?.annotations ?? {};
    if (prev !== undefined && !hasOurTaint(prev) && hasOurTaint(node)) {
      const cordon: CordonRecord = {
        node: name,
        resourceVersion: node.metadata?.resourceVersion ?? '',
        grant: ann[Annotation.Grant],
      };
      this.cordons.push(cordon);
      this.#pendingCordons.push(cordon);
      this.#judgePending(false);
    }
    const phase = ann[Annotation.Phase];
    const fromBootId = ann[Annotation.RebootFromBootId];
    if (phase !== AgentPhase.Rebooting || fromBootId === undefined) return;
    const since = ann[Annotation.PhaseSince];
    const prevAnn = prev?.metadata?.annotations ?? {};
    // A new request: the phase became Rebooting, or the agent wrote it again (a restarted agent
    // that asks once more writes a new phase-since).
    if (prev !== undefined && prevAnn[Annotation.Phase] === phase && prevAnn[Annotation.PhaseSince] === since)
      return;
    const parsed = since === undefined ? Number.NaN : Date.parse(since);
    const req: RebootRequest = {
      node: name,
      resourceVersion: node.metadata?.resourceVersion ?? '',
      at: Number.isNaN(parsed) ? observedAt : new Date(parsed),
      fromBootId,
      grant: ann[Annotation.Grant],
    };
    this.requests.push(req);
    this.#pending.push(req);
    this.#judgePending(false);
  }

  /** Nodes as last seen. */
  nodes(): NodeLike[] {
    return [...this.#nodes.values()];
  }

  #judgePending(all: boolean): void {
    for (let i = 0; i < this.#pendingCordons.length; ) {
      const c = this.#pendingCordons[i] as CordonRecord;
      const rv = rvNum(c.resourceVersion);
      if (!all && rv > this.#leaseWatermark) {
        i++;
        continue;
      }
      this.#pendingCordons.splice(i, 1);
      const grant = grantNaming(c.node, this.leasesAt(rv));
      c.started = grant !== undefined && c.grant !== undefined && grant.identity === c.grant && grant.started;
      if (!c.started) {
        this.violations.push({
          kind: 'cordon-without-start',
          node: c.node,
          resourceVersion: c.resourceVersion,
          detail: `${c.node}'s agent cordoned it (rv ${c.resourceVersion}) under recorded grant ${c.grant ?? '(none)'}, but the slot Lease naming it then ${grant === undefined ? 'did not exist' : `carried ${grant.identity}${grant.started ? '' : ' without the start acknowledged'}`}`,
        });
      }
    }
    for (let i = 0; i < this.#pending.length; ) {
      const req = this.#pending[i] as RebootRequest;
      const rv = rvNum(req.resourceVersion);
      if (!all && rv > this.#leaseWatermark) {
        i++;
        continue;
      }
      this.#pending.splice(i, 1);
      const leases = this.leasesAt(rv);
      // By identity only: the grant naming the node then must be the one the agent recorded.
      const grant = grantNaming(req.node, leases);
      req.granted = grant !== undefined && req.grant !== undefined && grant.identity === req.grant;
      req.grantedBy = req.granted ? grant?.identity : undefined;
      if (!req.granted) {
        const seen = leases
          .map((l) => {
            const id = l.metadata?.annotations?.[SlotAnnotation.GrantId];
            return `${nameOf(l)}=${l.spec?.holderIdentity ?? ''}${id === undefined ? '' : ` (grant ${id})`}`;
          })
          .join(', ');
        this.violations.push({
          kind: 'reboot-without-grant',
          node: req.node,
          resourceVersion: req.resourceVersion,
          detail: `${req.node} entered Rebooting at ${req.at.toISOString()} (rv ${req.resourceVersion}) under recorded grant ${req.grant ?? '(none)'}, which no slot Lease naming it carried then; slots then: ${seen || 'none'}`,
        });
      }
    }
  }

  // --- ground truth and the end ---------------------------------------------------------------

  /** Judges every request and cordon still waiting, whatever the Lease stream delivered (call when quiet). */
  judgeAll(): void {
    this.#judgePending(true);
  }

  readonly #rebootsMatched = new Map<string, number>();
  #rebootsDone = 0;
  readonly #nextRequest = new Map<string, number>();

  /**
   * Matches the fleet's reboots (an append-only log; each call looks at the entries it has not
   * seen) with the requests: each reboot must follow a request of its node — the latest one
   * before it, used once. Call when the Node stream has caught up (after a quiet moment).
   */
  reconcileReboots(reboots: readonly ObservedReboot[], now = new Date()): void {
    this.#judgePending(true);
    this.#checkDowntime(reboots, now);
    for (; this.#rebootsDone < reboots.length; this.#rebootsDone++) {
      const r = reboots[this.#rebootsDone] as ObservedReboot;
      const reqs = this.requests
        .filter((q) => q.node === r.node)
        .sort((a, b) => a.at.getTime() - b.at.getTime());
      let match = -1;
      for (
        let i = this.#nextRequest.get(r.node) ?? 0;
        i < reqs.length && (reqs[i] as RebootRequest).at <= r.at;
        i++
      )
        match = i;
      if (match < 0) {
        this.violations.push({
          kind: 'unrequested-reboot',
          node: r.node,
          detail: `the fleet rebooted ${r.node} at ${r.at.toISOString()} but its agent was never seen entering Rebooting (after its previous reboot) before that`,
        });
        continue;
      }
      this.#nextRequest.set(r.node, match + 1);
      this.#rebootsMatched.set(r.node, (this.#rebootsMatched.get(r.node) ?? 0) + 1);
      const req = reqs[match] as RebootRequest;
      if (!this.#acknowledged(req)) {
        this.violations.push({
          kind: 'unacknowledged-reboot',
          node: r.node,
          resourceVersion: req.resourceVersion,
          detail: `the fleet rebooted ${r.node} at ${r.at.toISOString()} but no version of its grant's slot Lease after its request (rv ${req.resourceVersion}, grant ${req.grant ?? '(none)'}) acknowledged the reboot from boot ${req.fromBootId}`,
        });
      }
    }
  }

  /**
   * Some version of the request's grant Lease, written after the request, carried that very grant
   * and the request's boot id as the acknowledgement.
   */
  #acknowledged(req: RebootRequest): boolean {
    const slot = req.grant === undefined ? undefined : splitGrantIdentity(req.grant)?.slot;
    if (slot === undefined) return false;
    const rv = rvNum(req.resourceVersion);
    return (this.#leaseHistory.get(slot) ?? []).some(([v, l]) => {
      if (v <= rv || l === undefined) return false;
      const g = grantOf(l);
      return (
        g !== undefined &&
        g.identity === req.grant &&
        g.holder === req.node &&
        g.rebootFromBootId === req.fromBootId
      );
    });
  }

  /** `too-many-down`, once per moment the count rose above the concurrency. */
  #checkDowntime(reboots: readonly ObservedReboot[], now: Date): void {
    const { max, excess } = downtimeOverlap(reboots, this.#concurrency, now);
    this.maxDown = Math.max(this.maxDown, max);
    for (const e of excess) {
      const key = `${e.at.toISOString()} ${e.nodes.join(',')}`;
      if (this.#downExcessSeen.has(key)) continue;
      this.#downExcessSeen.add(key);
      this.violations.push({
        kind: 'too-many-down',
        detail: `${e.nodes.length} nodes were down at once at ${e.at.toISOString()} (${e.nodes.join(', ')}), allowed ${this.#concurrency}`,
      });
    }
  }
}

export interface EndStateInput {
  readonly nodes: readonly NodeLike[];
  /** Nodes a person cordoned: their cordon must survive. */
  readonly adminCordoned: ReadonlySet<string>;
  /** Nodes that needed a reboot in this round, with how many reboots the fleet did since. */
  readonly needed: ReadonlyMap<string, number>;
  /** Current slot holders (a finished rollout releases every slot). */
  readonly holders: readonly string[];
}

const ACTING: readonly string[] = [
  AgentPhase.Cordoning,
  AgentPhase.Draining,
  AgentPhase.Rebooting,
  AgentPhase.Verifying,
];

/** Why a node is held back, if baton says so on the node; undefined otherwise. */
export function heldReason(node: NodeLike): string | undefined {
  const ann = node.metadata?.annotations ?? {};
  const conds = node.status?.conditions ?? [];
  const required = conds.find((c) => c.type === REBOOT_REQUIRED_CONDITION);
  if (
    ann[Annotation.Phase] === AgentPhase.Held ||
    required?.reason === RebootRequiredReason.AttemptLimitReached
  )
    return `held: ${RebootRequiredReason.AttemptLimitReached}`;
  const gate = conds.find((c) => c.type === REBOOT_GATE_CONDITION);
  if (gate?.status === 'True' && gate.reason) return `gate: ${gate.reason}`;
  return undefined;
}

/** The checks at the end of a rollout (or of one soak round). */
export function checkEndState(input: EndStateInput): Violation[] {
  const out: Violation[] = [];
  const byName = new Map(input.nodes.map((n) => [nameOf(n), n]));
  for (const n of input.nodes) {
    const name = nameOf(n);
    if (n.spec?.unschedulable === true && !input.adminCordoned.has(name))
      out.push({
        kind: 'left-cordoned',
        node: name,
        detail: `${name} is still cordoned and no person cordoned it`,
      });
    if (n.spec?.taints?.some((t) => t.key === REBOOTING_TAINT.key && t.effect === REBOOTING_TAINT.effect))
      out.push({ kind: 'left-tainted', node: name, detail: `${name} still carries ${REBOOTING_TAINT.key}` });
    const phase = n.metadata?.annotations?.[Annotation.Phase];
    if (phase !== undefined && ACTING.includes(phase))
      out.push({ kind: 'left-mid-reboot', node: name, detail: `${name} is still in phase ${phase}` });
  }
  for (const [name, reboots] of input.needed) {
    if (reboots === 1) continue;
    if (reboots > 1) {
      out.push({ kind: 'rebooted-more-than-once', node: name, detail: `${name} rebooted ${reboots} times` });
      continue;
    }
    const node = byName.get(name);
    const held = node === undefined ? undefined : heldReason(node);
    if (held === undefined)
      out.push({
        kind: 'not-rebooted',
        node: name,
        detail: `${name} needed a reboot, was not rebooted and is not held with a reason`,
      });
  }
  for (const h of input.holders)
    out.push({ kind: 'slot-still-held', node: h, detail: `a slot still names ${h} at the end` });
  return out;
}
