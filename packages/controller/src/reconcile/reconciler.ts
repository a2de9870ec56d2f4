/**
 * One reconcile: read the cached Nodes and Leases, plan, apply (releases first, then grants,
 * acknowledgements and renewals), record Events and metrics. Single-flight: changes seen while
 * one runs cause exactly one more run afterwards.
 *
 * Leadership is asked again before every write, not once per pass: a pass can take a while
 * (workload listings before a grant), and a replica that lost its lease meanwhile must stop at
 * once. Each write is itself a compare-and-swap on the very grant the plan saw (slots/slot-writes.ts), so
 * even a write already on its way cannot touch a newer grant.
 *
 * The Reconciler also keeps what the plan needs to know about time, measured on this process's
 * monotonic clock: how long each grant has been seen, how long each holder has been healthy,
 * and how long a node must back off after a grant that ended without a reboot.
 */
import {
  AgentPhase,
  Annotation,
  EventReason,
  grantIdentity,
  leaseTime,
  nodeNeedsReboot,
  PAUSE_LEASE,
  pauseState,
  recordedGrant,
  slotIndexOf,
} from '@baton/protocol';
import { describeKubeError, type Logger, singleFlight } from '@baton/runtime';
import type { V1Lease, V1Node } from '@kubernetes/client-node';
import type { NodeGate } from '../gates/gate.ts';
import {
  desiredGate,
  explainBlocked,
  type GateConditionWriter,
  type GateState,
  gateConditionUpdate,
} from '../observe/gate-condition.ts';
import type { LeaseEvents } from '../observe/lease-events.ts';
import type { ControllerMetrics } from '../observe/metrics.ts';
import { type Notification, NotificationEvent } from '../observe/notify.ts';
import {
  type Plan,
  type PlanObservations,
  type PlanSettings,
  plan,
  type RebootUnderway,
} from '../plan/plan.ts';
import type { SettleObserver } from '../settle/settle-observer.ts';
import type { SlotWriter } from '../slots/slot-writes.ts';

export interface NodeEvents {
  record(node: string, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
}

export interface ReconcilerDeps {
  readonly nodes: () => readonly V1Node[];
  readonly leases: () => readonly V1Lease[];
  readonly synced: () => boolean;
  readonly slots: SlotWriter;
  readonly events: NodeEvents;
  readonly metrics: ControllerMetrics;
  readonly log: Logger;
  /** Wall-clock time: windows, Lease times for people, Events. */
  readonly now: () => Date;
  /** A clock that never jumps (performance.now()): every duration the controller measures. */
  readonly monotonicMs: () => number;
  /** First back-off after a grant that ended without a reboot; doubles per such grant in a row, up to 16×. */
  readonly abortBackoffMs: number;
  /** Renew a grant once this much of its duration has passed (not on every reconcile). */
  readonly renewAfterMs: number;
  /** Whether this replica may write now (leader election); asked before every reconcile. */
  readonly mayAct: () => boolean;
  /** Gates kept by their own loops (alerts, blocking pods), asked about each pending node. */
  readonly gates?: readonly NodeGate[];
  /** Writes the RebootGate condition; absent, no condition is written. */
  readonly gateConditions?: GateConditionWriter;
  /** The pods and health of the nodes holding a slot; without it neither is checked. */
  readonly settle?: SettleObserver | undefined;
  /** Events on slot Leases (one edited into nonsense); without it, only logged. */
  readonly leaseEvents?: LeaseEvents | undefined;
  /** Asks for a reconcile in `ms` (a settle time ending); without it, the next tick does. */
  readonly wakeIn?: ((ms: number) => void) | undefined;
  /**
   * Lists what the drain of a node will touch (workloads-probe.ts recordWorkloads), written with
   * its grant. Throws when it cannot tell: then the node is not granted this time. Absent, grants
   * carry no record (unit tests of other parts).
   */
  readonly recordWorkloads?: ((node: string) => Promise<string>) | undefined;
  /**
   * A fresh read of a Node from the API server (not the cache). A release that rests on the
   * node having done nothing under its grant (it lapsed, or no longer needs a reboot) is
   * confirmed on it first: a lagging watch must not make a node that is working look idle.
   * Absent: the cached view decides (unit tests of other parts).
   */
  readonly readNode?: ((name: string) => Promise<V1Node | undefined>) | undefined;
  /**
   * A fresh list of the namespace's Leases from the API server (not the cache), just before each
   * grant: a cache that does not show yet a grant this controller (or the previous leader) just
   * made must not grant the same node a second slot, or one slot too many. Absent: the cached
   * view decides (unit tests of other parts).
   */
  readonly freshLeases?: (() => Promise<readonly V1Lease[]>) | undefined;
  /** Webhook notifications; must return at once (the Notifier queues). */
  readonly notify?: ((n: Notification) => void) | undefined;
  /** Told every plan with what it was made from (the read-only API's view); must return at once. */
  readonly planned?: ((pass: PlannedPass) => void) | undefined;
}

/** One plan and what it was made from, as the leader saw it at the start of a pass. */
export interface PlannedPass {
  readonly at: Date;
  readonly nodes: readonly V1Node[];
  readonly leases: readonly V1Lease[];
  /** The pause in words while the pause Lease holds; undefined when not paused. */
  readonly paused: string | undefined;
  readonly plan: Plan;
}

/** What one pass works from: the caches as read at its start, and the plan made from them. */
interface Pass {
  readonly now: Date;
  readonly nodes: readonly V1Node[];
  readonly nodeByName: ReadonlyMap<string, V1Node>;
  readonly leaseByName: ReadonlyMap<string, V1Lease>;
  readonly paused: string | undefined;
  readonly plan: Plan;
  readonly notify: NonNullable<ReconcilerDeps['notify']>;
}

/** Condition writes in flight at once: enough for a fleet-wide change, gentle on the API server. */
const CONDITION_WRITES_IN_PARALLEL = 8;

export class Reconciler {
  readonly #s: PlanSettings;
  readonly #d: ReconcilerDeps;
  /** One pass at a time; a call during a pass runs exactly one more after it. */
  readonly #passes = singleFlight(() => this.#once(), { again: true });
  #haltedNode: string | undefined;
  /** Last logged settle stage per holder, to log changes rather than every reconcile. */
  #stages = new Map<string, string>();
  /** Invalid slots already reported, by slot: problem and resourceVersion (report each edit once). */
  #invalid = new Map<string, string>();
  /** Grant identity → when this process first saw it (monotonic). */
  #grantSeen = new Map<string, number>();
  /** Grant identity → when this process first saw its node healthy without a break. */
  #healthy = new Map<string, { readonly mono: number; readonly wall: Date }>();
  /** Node → the back-off after its last grant ended without a reboot. */
  #backoff = new Map<string, { readonly until: number; readonly streak: number }>();
  /**
   * Grant identity → a reboot this process saw acknowledged and has not seen end. Kept across
   * passes and through lost leadership (it only ever holds a slot back): should a person delete
   * both the Lease and the Node object of a node going down, this is what still counts it.
   */
  #reboots = new Map<string, RebootUnderway>();

  constructor(settings: PlanSettings, deps: ReconcilerDeps) {
    this.#s = settings;
    this.#d = deps;
  }

  reconcile(): Promise<void> {
    return this.#passes.run();
  }

  /** The back-off after the `streak`-th grant in a row that ended without a reboot. */
  #backoffMs(streak: number): number {
    return this.#d.abortBackoffMs * 2 ** (Math.min(streak, 5) - 1);
  }

  #observations(nodes: ReadonlyMap<string, V1Node>): PlanObservations {
    const mono = this.#d.monotonicMs();
    return {
      grantAgeMs: (id) => {
        const seen = this.#grantSeen.get(id);
        return seen === undefined ? 0 : mono - seen;
      },
      healthyForMs: (id) => {
        const h = this.#healthy.get(id);
        return h === undefined ? undefined : mono - h.mono;
      },
      healthySince: (id) => this.#healthy.get(id)?.wall,
      backoffRemainingMs: (node) => {
        let b = this.#backoff.get(node);
        if (b === undefined) {
          // Not seen by this process: a restarted or new leader. If the node's record says its
          // last grant ended without a reboot, it backs off from now: longer, never shorter.
          const ann = nodes.get(node)?.metadata?.annotations ?? {};
          const streak = Number(ann[Annotation.AbortedGrants]);
          if (ann[Annotation.Phase] === AgentPhase.Aborted && Number.isInteger(streak) && streak > 0) {
            b = { until: mono + this.#backoffMs(streak), streak };
            this.#backoff.set(node, b);
          }
        }
        return b === undefined || b.until <= mono ? undefined : b.until - mono;
      },
      rebootsUnderway: () => [...this.#reboots.values()],
    };
  }

  /** This replica may write now: asked before each write, never trusted for a whole pass. */
  #mayWrite(what: string): boolean {
    if (this.#d.mayAct()) return true;
    this.#d.log.warn({ write: what }, 'no longer leading; not writing');
    return false;
  }

  /**
   * One pass: plan from the caches, then apply — releases first, then grants, acknowledgements
   * and renewals — each write asking again whether this replica still leads (a pass stops at
   * the first write it may no longer make), then report what people see.
   */
  async #once(): Promise<void> {
    if (!this.#d.synced()) return; // never decide on a partial view
    if (!this.#d.mayAct()) {
      // A follower, or a leader that could not renew in time: decide nothing, watch no pods.
      // What it observed is stale by the time it leads again: it starts observing afresh.
      this.#d.settle?.facts([]);
      this.#grantSeen.clear();
      this.#healthy.clear();
      return;
    }
    const pass = this.#plan();
    await this.#reportInvalidSlots(pass);
    if (!(await this.#applyReleases(pass))) return;
    const grantedNow = await this.#applyGrants(pass);
    if (grantedNow === undefined) return;
    if (!(await this.#applyAcknowledgements(pass))) return;
    if (!(await this.#applyRenewals(pass))) return;
    await this.#reportHalt(pass);
    this.#logHolderStages(pass);
    await this.#publish(pass, grantedNow);
  }

  /** Step: read the caches, plan, and remember what this pass observed for the next. */
  #plan(): Pass {
    const now = this.#d.now();
    const mono = this.#d.monotonicMs();
    const leases = this.#d.leases();
    const paused = pauseState(
      leases.find((l) => l.metadata?.name === PAUSE_LEASE),
      now,
    );
    const nodes = this.#d.nodes();
    const nodeByName = new Map(nodes.map((n) => [n.metadata?.name ?? '', n]));
    const settleFacts = this.#d.settle?.facts(slotHolders(leases, nodes));
    const p = plan({
      now,
      nodes,
      leases,
      settings: this.#s,
      paused,
      gates: this.#d.gates ?? [],
      settleFacts,
      observed: this.#observations(nodeByName),
    });
    this.#d.planned?.({ at: now, nodes, leases, paused, plan: p });
    // What this pass saw, for the next: grants first seen now, holders healthy now.
    for (const id of p.grantsSeen) if (!this.#grantSeen.has(id)) this.#grantSeen.set(id, mono);
    for (const id of [...this.#grantSeen.keys()]) if (!p.grantsSeen.includes(id)) this.#grantSeen.delete(id);
    const healthyNow = new Set([...p.holding.values()].filter((h) => h.healthy).map((h) => h.identity));
    for (const id of healthyNow) if (!this.#healthy.has(id)) this.#healthy.set(id, { mono, wall: now });
    for (const id of [...this.#healthy.keys()]) if (!healthyNow.has(id)) this.#healthy.delete(id);
    this.#reboots = new Map(p.rebootsUnderway.map((r) => [r.identity, r]));
    return {
      now,
      nodes,
      nodeByName,
      leaseByName: new Map(leases.map((l) => [l.metadata?.name ?? '', l])),
      paused,
      plan: p,
      notify: this.#d.notify ?? (() => undefined),
    };
  }

  /** How long `slot`'s Lease has been held, in seconds, for notifications. */
  #heldFor(pass: Pass, slot: string): number | undefined {
    const at = leaseTime(pass.leaseByName.get(slot)?.spec?.acquireTime);
    return at === undefined ? undefined : Math.round((pass.now.getTime() - at.getTime()) / 1000);
  }

  /** Step: an Event and an error log for each slot Lease that makes no sense, once per edit. */
  async #reportInvalidSlots({ plan: p, leaseByName }: Pass): Promise<void> {
    for (const bad of p.invalidSlots) {
      const lease = leaseByName.get(bad.slot);
      const key = `${bad.problem}@${lease?.metadata?.resourceVersion ?? ''}`;
      if (this.#invalid.get(bad.slot) === key) continue;
      this.#invalid.set(bad.slot, key);
      const message = `${bad.slot} cannot be acted on: ${bad.problem}. The slot stays blocked (no grant, renewal or release) until a person fixes it or empties spec.holderIdentity.`;
      this.#d.log.error(
        { slot: bad.slot, holder: bad.holder, problem: bad.problem },
        'slot Lease makes no sense; blocking it',
      );
      await this.#d.leaseEvents?.record(
        { name: bad.slot, uid: lease?.metadata?.uid },
        'Warning',
        EventReason.SlotInvalid,
        message,
      );
    }
    for (const slot of [...this.#invalid.keys()]) {
      if (!p.invalidSlots.some((b) => b.slot === slot)) this.#invalid.delete(slot);
    }
  }

  /** Step: the releases, each on the very grant the plan saw. False: leadership lost, stop. */
  async #applyReleases(pass: Pass): Promise<boolean> {
    const { log, metrics, slots, events } = this.#d;
    for (const r of pass.plan.releases) {
      if (!this.#mayWrite('release')) return false;
      try {
        if (!(await this.#confirmIdle(r))) continue;
        // A release decided on what the node did not do carries the acknowledgements the Lease
        // must still lack (the plan's cache of it may lag this controller's own earlier write).
        if (await slots.release(r.slot, r.holder, r.grantId, { unacknowledged: r.unacknowledged })) {
          log.info({ slot: r.slot, node: r.holder, why: r.reason }, 'released slot');
          metrics.released(r.kind);
          this.#noteBackoff(pass, r);
          pass.notify({
            event: NotificationEvent.RebootFinished,
            node: r.holder,
            slot: r.slot,
            outcome: r.kind,
            reason: r.reason,
            durationSeconds: this.#heldFor(pass, r.slot),
          });
          // Settled (or held at the attempt limit) is the end of a reboot; anything else is a slot
          // taken back (the protocol's SlotReleased).
          const reason =
            r.kind === 'Settled' || r.kind === 'Held' ? EventReason.Settled : EventReason.SlotReleased;
          await events.record(r.holder, 'Normal', reason, `released ${r.slot}: ${r.reason}`);
        }
      } catch (err) {
        log.warn({ slot: r.slot, err: describeKubeError(err) }, 'could not release slot');
      }
    }
    return true;
  }

  /** After a release: a grant that ended without a reboot backs its node off; a reboot clears it. */
  #noteBackoff(pass: Pass, r: Plan['releases'][number]): void {
    if (r.kind === 'Aborted' || r.kind === 'Lapsed') {
      // The node waits before it is granted again, longer with each such grant in a row.
      const recorded = Number(
        pass.nodeByName.get(r.holder)?.metadata?.annotations?.[Annotation.AbortedGrants],
      );
      const streak = Math.max(
        (this.#backoff.get(r.holder)?.streak ?? 0) + 1,
        Number.isInteger(recorded) && recorded > 0 ? recorded : 0,
      );
      this.#backoff.set(r.holder, { until: this.#d.monotonicMs() + this.#backoffMs(streak), streak });
    } else if (r.kind === 'Settled' || r.kind === 'Held') {
      this.#backoff.delete(r.holder);
    }
  }

  /**
   * Step: the grants, each after recording what its drain will touch and a fresh check that the
   * cache does not lag. Returns node → slot granted now; undefined: leadership lost, stop.
   */
  async #applyGrants(pass: Pass): Promise<Map<string, string> | undefined> {
    const { log, metrics, slots, events } = this.#d;
    const grantedNow = new Map<string, string>();
    for (const g of pass.plan.grants) {
      let workloads: string | undefined;
      try {
        workloads = await this.#d.recordWorkloads?.(g.node);
      } catch (err) {
        // Fail closed: without the record the node could never be shown to have settled.
        log.warn(
          { slot: g.slot, node: g.node, err: describeKubeError(err) },
          'cannot list the workloads on the node; not granting it now',
        );
        continue;
      }
      // The listing may have taken long: the leadership this pass began with may be gone.
      if (!this.#mayWrite('grant')) return undefined;
      try {
        const stale = await this.#staleGrant(g.node, pass.plan);
        if (stale !== undefined) {
          log.info({ slot: g.slot, node: g.node, why: stale }, 'not granting: the cache lags');
          continue;
        }
        if (await slots.grant(g.slot, g.node, g.wasUnschedulable, workloads)) {
          grantedNow.set(g.node, g.slot);
          log.info({ slot: g.slot, node: g.node }, 'granted reboot');
          metrics.granted();
          pass.notify({
            event: NotificationEvent.RebootGranted,
            node: g.node,
            slot: g.slot,
            reason: 'granted',
          });
          await events.record(g.node, 'Normal', EventReason.RebootGranted, `granted ${g.slot}`);
        }
      } catch (err) {
        log.warn({ slot: g.slot, node: g.node, err: describeKubeError(err) }, 'could not grant slot');
      }
    }
    return grantedNow;
  }

  /** Step: acknowledge what agents wait for (a start, a reboot). False: leadership lost, stop. */
  async #applyAcknowledgements(pass: Pass): Promise<boolean> {
    const { log, slots } = this.#d;
    for (const a of pass.plan.acknowledgements) {
      if (!this.#mayWrite('acknowledge')) return false;
      try {
        const what = a.bootId === undefined ? 'the start of its work' : `its reboot from boot ${a.bootId}`;
        if (await slots.acknowledge(a.slot, { node: a.node, grantId: a.grantId }, a.bootId)) {
          log.info({ slot: a.slot, node: a.node, bootId: a.bootId }, `acknowledged ${what}`);
          if (a.bootId !== undefined) {
            // From now on the machine may go down: remembered before the cache shows the Lease.
            const identity = grantIdentity(a.slot, a.grantId);
            this.#reboots.set(identity, { identity, node: a.node, fromBootId: a.bootId });
          }
        }
      } catch (err) {
        log.warn({ slot: a.slot, err: describeKubeError(err) }, 'could not acknowledge');
      }
    }
    return true;
  }

  /** Step: keep renewTime fresh on held grants, for people. False: leadership lost, stop. */
  async #applyRenewals(pass: Pass): Promise<boolean> {
    for (const r of pass.plan.renewals) {
      const renewed = leaseTime(pass.leaseByName.get(r.slot)?.spec?.renewTime)?.getTime() ?? 0;
      // For people reading the Lease: a renewTime kept fresh while the node works. No decision
      // of the agent or the controller depends on it.
      if (Math.abs(pass.now.getTime() - renewed) < this.#d.renewAfterMs) continue;
      if (!this.#mayWrite('renew')) return false;
      try {
        await this.#d.slots.renew(r.slot, { node: r.node, grantId: r.grantId });
      } catch (err) {
        this.#d.log.warn({ slot: r.slot, err: describeKubeError(err) }, 'could not renew grant');
      }
    }
    return true;
  }

  /** Step: say once when the rollout halts, and once when it resumes. */
  async #reportHalt({ plan: p, notify }: Pass): Promise<void> {
    const { log, events } = this.#d;
    if (p.halted && p.halted.node !== this.#haltedNode) {
      log.error({ node: p.halted.node }, p.halted.detail);
      notify({ event: NotificationEvent.RolloutHalted, node: p.halted.node, reason: p.halted.detail });
      await events.record(p.halted.node, 'Warning', EventReason.RolloutHalted, p.halted.detail);
    } else if (!p.halted && this.#haltedNode !== undefined) {
      const was = this.#haltedNode;
      log.info({ node: was }, 'rollout no longer halted');
      notify({
        event: NotificationEvent.RolloutResumed,
        node: was,
        reason: p.holding.has(was) ? 'the node is no longer overdue' : 'its slot was released',
      });
    }
    this.#haltedNode = p.halted?.node;
  }

  /** Step: log each holder's settle stage when it changes, not every pass. */
  #logHolderStages({ plan: p }: Pass): void {
    for (const [node, h] of p.holding) {
      // "settling: healthy for 3 s of 60 s" changes every second: log the stage once.
      const key = h.stage === 'Settling' ? h.stage : `${h.stage}: ${h.why}`;
      if (this.#stages.get(node) !== key)
        this.#d.log.info({ node, stage: h.stage, why: h.why }, 'holder not settled yet');
      this.#stages.set(node, key);
    }
    for (const node of [...this.#stages.keys()]) if (!p.holding.has(node)) this.#stages.delete(node);
  }

  /** Step: when to plan again, the metrics, and each node's RebootGate condition. */
  async #publish(pass: Pass, grantedNow: ReadonlyMap<string, string>): Promise<void> {
    const { plan: p, nodes, now } = pass;
    if (p.wakeInMs !== undefined) this.#d.wakeIn?.(p.wakeInMs);
    const blocked = explainBlocked(nodes, p);
    this.#d.metrics.observe(p, pass.paused !== undefined, blocked);
    this.#d.metrics.fleet(nodes, this.#d.leases(), now);
    const holding = new Map([...p.renewals.map((r) => [r.node, r.slot] as const), ...grantedNow]);
    if (this.#d.mayAct()) await this.#writeGateConditions(nodes, blocked, holding, now);
  }

  /**
   * Why granting `node` now would rest on a stale cache, from a fresh list of the Leases: a slot
   * already names it, or the slots held (plus the nodes mid-reboot without one) already reach the
   * concurrency. Undefined: grant.
   */
  async #staleGrant(node: string, p: Plan): Promise<string | undefined> {
    if (this.#d.freshLeases === undefined) return undefined;
    const slots = (await this.#d.freshLeases()).filter(
      (l) => slotIndexOf(l.metadata?.name ?? '') !== undefined,
    );
    const naming = slots.find((l) => l.spec?.holderIdentity === node);
    if (naming !== undefined) return `${naming.metadata?.name} already names ${node}`;
    const held = slots.filter((l) => (l.spec?.holderIdentity ?? '') !== '').length;
    const orphans = [...p.holding.values()].filter((h) => h.stage === 'Orphaned').length;
    if (held + orphans >= this.#s.concurrency)
      return `${held} slot(s) held and ${orphans} node(s) mid-reboot without one: no slot is free`;
    return undefined;
  }

  /**
   * For a release decided on what the node did not do (lapsed, not needed, its record of the
   * grant gone, its Node deleted): true when a fresh read of the Node agrees (no work recorded
   * under this grant; for NotNeeded, no reboot needed).
   */
  async #confirmIdle(r: Plan['releases'][number]): Promise<boolean> {
    if (r.unacknowledged === undefined || this.#d.readNode === undefined) return true;
    const fresh = await this.#d.readNode(r.holder);
    if (fresh === undefined) return true;
    const identity = r.grantId === undefined ? undefined : grantIdentity(r.slot, r.grantId);
    const worked = identity !== undefined && recordedGrant(fresh.metadata?.annotations ?? {}) === identity;
    if (worked || (r.kind === 'NotNeeded' && nodeNeedsReboot(fresh))) {
      this.#d.log.info(
        { slot: r.slot, node: r.holder, kind: r.kind },
        'not releasing: the node, read fresh, is working under its grant (the watch lags)',
      );
      return false;
    }
    return true;
  }

  async #writeGateConditions(
    nodes: readonly V1Node[],
    blocked: ReadonlyMap<string, GateState>,
    holding: ReadonlyMap<string, string>,
    now: Date,
  ): Promise<void> {
    const writer = this.#d.gateConditions;
    if (writer === undefined) return;
    const updates = nodes.flatMap((n) => {
      const want = desiredGate(n, blocked, holding);
      const update = want === undefined ? undefined : gateConditionUpdate(n, want, now);
      return update === undefined ? [] : [{ node: n.metadata?.name ?? '', update }];
    });
    for (let i = 0; i < updates.length; i += CONDITION_WRITES_IN_PARALLEL) {
      await Promise.all(
        updates.slice(i, i + CONDITION_WRITES_IN_PARALLEL).map(async ({ node, update }) => {
          try {
            await writer.patch(node, update);
          } catch (err) {
            // Explaining is worth less than deciding: log, and the next reconcile tries again.
            this.#d.log.warn(
              { node, err: describeKubeError(err) },
              'could not write the RebootGate condition',
            );
          }
        }),
      );
    }
  }
}

/** Nodes that hold a slot Lease and exist: the ones whose pods are worth watching. */
function slotHolders(leases: readonly V1Lease[], nodes: readonly V1Node[]): string[] {
  const names = new Set(nodes.map((n) => n.metadata?.name ?? ''));
  const out: string[] = [];
  for (const l of leases) {
    const holder = l.spec?.holderIdentity ?? '';
    if (slotIndexOf(l.metadata?.name ?? '') !== undefined && holder !== '' && names.has(holder))
      out.push(holder);
  }
  return out;
}
