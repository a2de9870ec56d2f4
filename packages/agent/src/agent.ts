/**
 * The agent's decisions: act on a grant (cordon → drain → reboot), finish after the reboot
 * (verify the new bootID → uncordon → report), or undo its own changes when the grant goes away.
 *
 * Level-triggered: `reconcile()` reads the node and the grant as they are now and does the next
 * step; it is called on every change and on a timer, one call at a time. Every step it takes is
 * recorded on the node first (annotations of protocol.ts), so a restarted agent — or one that
 * was killed mid-drain — picks up exactly where the cluster says it was, never where memory says.
 *
 * Safety rules:
 * - no destructive step (cordon, each eviction round, the reboot) without a valid grant naming
 *   this node at that moment;
 * - the agent undoes only what it did: an administrator's cordon survives (was-unschedulable);
 * - a reboot is believed only when the bootID changed; the same bootID after a restart means
 *   it did not happen;
 * - a sentinel that survives the reboot counts an attempt; past the limit the node is held.
 */
import {
  AgentPhase,
  Annotation,
  EventReason,
  type Grant,
  grantFor,
  type LabelPair,
  type LeaseLike,
  REBOOTING_TAINT,
  type Taint as TaintSpec,
} from '@baton/protocol';
import type { V1Node, V1Taint } from '@kubernetes/client-node';
import { attemptsOf, desiredCondition } from './condition.ts';
import type { DrainOptions, DrainResult } from './drain/index.ts';
import type { EventSink, NodeApi } from './kube.ts';
import type { Rebooter } from './rebooter.ts';
import type { SentinelReading } from './sentinel.ts';

export interface AgentSettings {
  readonly nodeName: string;
  readonly maxRebootAttempts: number;
  readonly drainDelayMs: number;
  readonly rebootDelayMs: number;
  /** How long a machine may take to go down after the reboot command (--shutdown-grace). */
  readonly shutdownGraceMs: number;
  readonly drainTimeoutPolicy: 'abort' | 'force';
  readonly preRebootLabels: readonly LabelPair[];
  readonly postRebootLabels: readonly LabelPair[];
  readonly preRebootTaint: TaintSpec | undefined;
}

export interface AgentClock {
  now(): Date;
  sleep(ms: number): Promise<void>;
}

export interface AgentDeps {
  readonly node: NodeApi;
  /**
   * The node as the watch last delivered it, if any. Used only to skip the idle case without a
   * request: the agent reconciles on every Lease change (the leader Lease alone renews every
   * 2 s), and a GET of its Node each time was most of its API load. Anything that may act
   * reads the node fresh.
   */
  readonly watchedNode?: () => V1Node | undefined;
  readonly events: EventSink;
  /** The slot Leases as last seen, and whether that view is current (watch in sync). */
  readonly leases: { list(): readonly LeaseLike[]; synced(): boolean };
  /** A fresh sentinel reading (used after the reboot, when it decides the attempt count). */
  readonly checkSentinel: () => Promise<SentinelReading>;
  readonly drain: (
    stillGranted: () => Promise<boolean>,
    opts?: Partial<DrainOptions>,
  ) => Promise<DrainResult>;
  readonly rebooter: Rebooter;
  readonly clock: AgentClock;
  readonly log: {
    info(obj: object, msg: string): void;
    warn(obj: object, msg: string): void;
    error(obj: object, msg: string): void;
  };
  /** Called when the agent's phase or its work changes, so the reporter and metrics follow. */
  readonly onPhase?: (phase: string) => void;
}

/** What `reconcile` did, for logs and tests. */
export type Step =
  | 'idle'
  | 'waiting-for-sync'
  | 'acted'
  | 'aborted'
  | 'rebooting'
  | 'waiting-for-reboot'
  | 'waiting-for-ready'
  | 'completed';

const ACTING_PHASES: readonly string[] = [AgentPhase.Cordoning, AgentPhase.Draining];

function isReady(node: V1Node): boolean {
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

function sameTaint(a: V1Taint, key: string, effect: string): boolean {
  return a.key === key && a.effect === effect;
}

/** Our taints: the protocol's rebooting taint, plus the configured pre-reboot taint. */
function ourTaints(settings: AgentSettings): V1Taint[] {
  const taints: V1Taint[] = [{ key: REBOOTING_TAINT.key, effect: REBOOTING_TAINT.effect }];
  const extra = settings.preRebootTaint;
  if (extra) taints.push({ key: extra.key, value: extra.value, effect: extra.effect });
  return taints;
}

export class Agent {
  readonly #s: AgentSettings;
  readonly #d: AgentDeps;
  /** The reboot was requested by this process (so a same-bootID reconcile does not ask again). */
  #rebootRequested = false;
  #running: Promise<Step> | undefined;
  #again = false;
  /** When this process started: the shutdown grace counts from here if the record has no time. */
  readonly #startedAt: Date;

  constructor(settings: AgentSettings, deps: AgentDeps) {
    this.#s = settings;
    this.#d = deps;
    this.#startedAt = deps.clock.now();
  }

  /**
   * Runs one reconcile; if called while one runs, runs exactly one more afterwards (changes seen
   * meanwhile are not lost, and calls never overlap).
   */
  reconcile(): Promise<Step> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    const run = async (): Promise<Step> => {
      let step: Step;
      do {
        this.#again = false;
        step = await this.#reconcileOnce();
      } while (this.#again);
      return step;
    };
    this.#running = run().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  #grant(): Grant | undefined {
    return grantFor(this.#s.nodeName, this.#d.leases.list(), this.#d.clock.now());
  }

  async #stillGranted(): Promise<boolean> {
    return this.#d.leases.synced() && this.#grant() !== undefined;
  }

  /**
   * True when this view of the node shows nothing to do: no reboot in flight, no cordon or
   * drain to resume or undo, and no grant for this node. A stale view costs nothing here: the
   * change it missed arrives through the watch and triggers another reconcile.
   */
  #idleGiven(node: V1Node): boolean {
    const ann = node.metadata?.annotations ?? {};
    if (ann[Annotation.RebootFromBootId] !== undefined) return false;
    const phase = ann[Annotation.Phase];
    if (phase !== undefined && ACTING_PHASES.includes(phase)) return false;
    return this.#d.leases.synced() && this.#grant() === undefined;
  }

  async #reconcileOnce(): Promise<Step> {
    const watched = this.#d.watchedNode?.();
    if (watched !== undefined && !this.#rebootRequested && this.#idleGiven(watched)) return 'idle';
    const node = await this.#d.node.read();
    const ann = node.metadata?.annotations ?? {};
    const phase = ann[Annotation.Phase];
    const fromBootId = ann[Annotation.RebootFromBootId];
    const bootId = node.status?.nodeInfo?.bootID ?? '';

    // 1. A reboot was started. Did it happen?
    if (fromBootId !== undefined) {
      if (bootId !== '' && bootId !== fromBootId) return this.#completeAfterReboot(node);
      // This process asked the host to reboot and the request succeeded: the machine is going
      // down (a shutdown can take minutes). A grant that lapses now — the controller could not
      // renew it through an API outage — changes nothing: undoing the cordon would hand a node
      // that is about to reboot back to the scheduler, and the controller, seeing it aborted,
      // would grant its slot to another node while this one is still down. Wait for the boot.
      if (this.#rebootRequested) return 'waiting-for-reboot';
      if (!this.#d.leases.synced()) return 'waiting-for-sync';
      if (this.#grant() === undefined) {
        // A restarted process, same boot, no grant. The process before may have run the reboot
        // command just before it died, and the machine may still be going down: undoing now
        // would free the slot for another node while this one goes down (two faults at once: an
        // agent crash and an API outage that let the grant lapse). Wait out the shutdown grace
        // from the recorded request; only then has the reboot certainly not happened.
        // A record without a readable time (a hand edit) counts from this process's start.
        const recorded = Date.parse(ann[Annotation.PhaseSince] ?? '');
        const requestedAt = Number.isNaN(recorded) ? this.#startedAt.getTime() : recorded;
        if (this.#d.clock.now().getTime() - requestedAt < this.#s.shutdownGraceMs)
          return 'waiting-for-reboot';
        return this.#abort(node, 'the grant ended before the node rebooted (same bootID)');
      }
      // Restarted after asking for the reboot, still on the same boot, still granted: ask again.
      return this.#reboot(node);
    }

    if (!this.#d.leases.synced()) return 'waiting-for-sync';
    const grant = this.#grant();

    // 2. Interrupted mid-way (agent restarted while cordoning or draining).
    if (phase !== undefined && ACTING_PHASES.includes(phase)) {
      if (grant === undefined) return this.#abort(node, 'the grant was revoked or expired');
      return this.#act(node, grant);
    }

    // 3. A grant for a node that needs a reboot.
    if (grant === undefined) return 'idle';
    if (phase === AgentPhase.Aborted) {
      // Never re-run on the grant it aborted under: only a newer grant restarts the work.
      const since = new Date(ann[Annotation.PhaseSince] ?? 0);
      if (!(grant.acquiredAt > since)) return 'idle';
    }
    const reading = await this.#d.checkSentinel();
    const condition = desiredCondition(reading, ann, this.#s.maxRebootAttempts);
    if (condition.status !== 'True' || condition.reason === 'AttemptLimitReached') {
      this.#d.log.info(
        { slot: grant.slot, condition: condition.reason },
        'granted, but this node does not need a reboot now; not acting',
      );
      return 'idle';
    }
    return this.#act(node, grant);
  }

  async #setPhase(phase: AgentPhase, extra: Record<string, string | null> = {}): Promise<V1Node> {
    const node = await this.#d.node.patchMetadata({
      annotations: {
        [Annotation.Phase]: phase,
        [Annotation.PhaseSince]: this.#d.clock.now().toISOString(),
        ...extra,
      },
    });
    this.#d.onPhase?.(phase);
    return node;
  }

  async #act(node: V1Node, grant: Grant): Promise<Step> {
    const log = this.#d.log;
    const ann = node.metadata?.annotations ?? {};
    // Record the node's own cordon state once, before touching it: the one fact that decides
    // whether we may uncordon later. A resumed run keeps the first record.
    if (ann[Annotation.WasUnschedulable] === undefined) {
      await this.#setPhase(AgentPhase.Cordoning, {
        [Annotation.WasUnschedulable]: String(node.spec?.unschedulable === true),
        [Annotation.Slot]: grant.slot,
      });
      log.info(
        { slot: grant.slot, wasUnschedulable: node.spec?.unschedulable === true },
        'granted; cordoning',
      );
    }
    if (!(await this.#stillGranted()))
      return this.#abort(await this.#d.node.read(), 'the grant ended before the cordon');

    if (this.#s.preRebootLabels.length > 0) {
      await this.#d.node.patchMetadata({
        labels: Object.fromEntries(this.#s.preRebootLabels.map((l) => [l.key, l.value])),
      });
    }
    const taints = ourTaints(this.#s);
    await this.#d.node.update((n) => {
      const existing = n.spec?.taints ?? [];
      const missing = taints.filter((t) => !existing.some((e) => sameTaint(e, t.key, t.effect)));
      if (n.spec?.unschedulable === true && missing.length === 0) return undefined;
      n.spec = { ...n.spec, unschedulable: true, taints: [...existing, ...missing] };
      return n;
    });
    await this.#setPhase(AgentPhase.Draining);

    if (this.#s.drainDelayMs > 0) await this.#d.clock.sleep(this.#s.drainDelayMs);
    await this.#d.events.record('Normal', EventReason.Draining, `cordoned under ${grant.slot}; draining`);
    const result = await this.#d.drain(() => this.#stillGranted());
    log.info(
      { outcome: result.outcome, evicted: result.evicted, rounds: result.rounds, ms: result.elapsedMs },
      'drain ended',
    );

    switch (result.outcome) {
      case 'drained':
        break;
      case 'revoked':
        return this.#abort(await this.#d.node.read(), 'the grant was revoked or expired during the drain');
      case 'cancelled':
        return 'idle';
      case 'refused': {
        const why = result.refused
          .map((r) => `${r.pod.metadata?.namespace}/${r.pod.metadata?.name}: ${r.reason}`)
          .join('; ');
        await this.#d.events.record('Warning', EventReason.DrainBlocked, `drain refused: ${why}`);
        return this.#abort(await this.#d.node.read(), `the drain was refused (${why})`);
      }
      case 'timeout': {
        const why = result.lastBlockers.join('; ') || `${result.remaining.length} pod(s) still terminating`;
        await this.#d.events.record('Warning', EventReason.DrainBlocked, `drain timed out: ${why}`);
        if (this.#s.drainTimeoutPolicy === 'abort')
          return this.#abort(await this.#d.node.read(), `the drain timed out (${why})`);
        log.warn(
          { remaining: result.remaining.length },
          'drain timed out; rebooting anyway (--drain-timeout-policy=force)',
        );
        break;
      }
    }

    if (this.#s.rebootDelayMs > 0) await this.#d.clock.sleep(this.#s.rebootDelayMs);
    const fresh = await this.#d.node.read();
    if (!(await this.#stillGranted())) return this.#abort(fresh, 'the grant ended before the reboot');
    return this.#reboot(fresh);
  }

  async #reboot(node: V1Node): Promise<Step> {
    const bootId = node.status?.nodeInfo?.bootID ?? '';
    if (bootId === '') {
      // Without a bootID the reboot could never be verified: refuse rather than loop.
      return this.#abort(
        node,
        'the node reports no status.nodeInfo.bootID, so a reboot could not be verified',
      );
    }
    if (!(await this.#stillGranted())) return this.#abort(node, 'the grant ended before the reboot');
    await this.#setPhase(AgentPhase.Rebooting, { [Annotation.RebootFromBootId]: bootId });
    await this.#d.events.record(
      'Normal',
      EventReason.Rebooting,
      `rebooting (${this.#d.rebooter.description}) from boot ${bootId}`,
    );
    this.#d.log.info({ bootId, how: this.#d.rebooter.description }, 'rebooting');
    this.#rebootRequested = true;
    try {
      await this.#d.rebooter.reboot();
    } catch (err) {
      this.#rebootRequested = false;
      this.#d.log.error({ err: (err as Error).message }, 'the reboot request failed');
      await this.#d.events.record('Warning', EventReason.RebootAborted, (err as Error).message);
      return this.#abort(await this.#d.node.read(), `the reboot request failed: ${(err as Error).message}`);
    }
    return 'rebooting';
  }

  async #completeAfterReboot(node: V1Node): Promise<Step> {
    const ann = node.metadata?.annotations ?? {};
    if (ann[Annotation.Phase] !== AgentPhase.Verifying) await this.#setPhase(AgentPhase.Verifying);
    if (!isReady(node)) return 'waiting-for-ready';

    const reading = await this.#d.checkSentinel();
    const requested = ann[Annotation.RebootRequested] !== undefined;
    const stillRequired = reading.status === 'True';
    const attempts = stillRequired ? attemptsOf(ann) + 1 : 0;
    const held = stillRequired && attempts >= this.#s.maxRebootAttempts;

    await this.#undoNodeChanges(ann[Annotation.WasUnschedulable] === 'false');
    if (this.#s.postRebootLabels.length > 0) {
      await this.#d.node.patchMetadata({
        labels: Object.fromEntries(this.#s.postRebootLabels.map((l) => [l.key, l.value])),
      });
    }
    // One patch for the record: a crash before it repeats the idempotent steps above, never
    // counts an attempt twice.
    await this.#setPhase(held ? AgentPhase.Held : AgentPhase.Rebooted, {
      [Annotation.RebootFromBootId]: null,
      [Annotation.WasUnschedulable]: null,
      [Annotation.Slot]: null,
      [Annotation.RebootAttempts]: attempts > 0 ? String(attempts) : null,
      ...(requested ? { [Annotation.RebootRequested]: null } : {}),
    });
    const bootId = node.status?.nodeInfo?.bootID;
    if (held) {
      await this.#d.events.record(
        'Warning',
        EventReason.RebootHeld,
        `rebooted (boot ${bootId}) but the sentinel is still there after ${attempts} reboot(s); held, not rebooting again. Delete annotation ${Annotation.RebootAttempts} to retry.`,
      );
    } else {
      await this.#d.events.record(
        'Normal',
        EventReason.Rebooted,
        `rebooted into boot ${bootId}${stillRequired ? ` (sentinel still present: attempt ${attempts} of ${this.#s.maxRebootAttempts})` : ''}`,
      );
    }
    this.#d.log.info({ bootId, attempts, held }, 'reboot verified: new bootID; node released');
    return 'completed';
  }

  /** Uncordons (only if we cordoned) and removes our taints; idempotent. */
  async #undoNodeChanges(mayUncordon: boolean): Promise<void> {
    const taints = ourTaints(this.#s);
    await this.#d.node.update((n) => {
      const existing = n.spec?.taints ?? [];
      const kept = existing.filter((e) => !taints.some((t) => sameTaint(e, t.key, t.effect)));
      const uncordon = mayUncordon && n.spec?.unschedulable === true;
      if (!uncordon && kept.length === existing.length) return undefined;
      n.spec = { ...n.spec, taints: kept, ...(uncordon ? { unschedulable: false } : {}) };
      return n;
    });
  }

  async #abort(node: V1Node, why: string): Promise<Step> {
    const ann = node.metadata?.annotations ?? {};
    this.#rebootRequested = false;
    await this.#undoNodeChanges(ann[Annotation.WasUnschedulable] === 'false');
    await this.#setPhase(AgentPhase.Aborted, {
      [Annotation.RebootFromBootId]: null,
      [Annotation.WasUnschedulable]: null,
      [Annotation.Slot]: null,
    });
    await this.#d.events.record(
      'Warning',
      EventReason.RebootAborted,
      `${why}; undid the agent's own changes`,
    );
    this.#d.log.warn({ why }, 'aborted; uncordoned if the agent had cordoned, own taints removed');
    return 'aborted';
  }
}
