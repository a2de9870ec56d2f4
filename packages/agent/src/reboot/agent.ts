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
 * - a grant is judged by its identity (which slot Lease, which acquisition: the Lease's
 *   grant id), never by comparing this machine's clock with a time another machine wrote;
 * - one grant, one attempt: the identity of the grant it works under is recorded on the node
 *   (`baton.dev/grant`) before anything is touched and stays there after the work ends, so the
 *   agent never starts again under a grant it already used, whatever the sentinel says later;
 * - no destructive step (cordon, each eviction round) without that grant still in place; the
 *   cordon only once the controller has acknowledged the start on the slot Lease, the reboot
 *   command only once it has acknowledged the reboot from this boot — each checked by a fresh
 *   read of the Lease just before;
 * - once the command may have been given, nothing is undone until the machine had
 *   `--shutdown-grace` to go down (measured on this process's monotonic clock): undoing would
 *   free the slot while the machine goes down. A restarted process cannot know whether its
 *   predecessor gave the command, so it waits the whole grace from its own start;
 * - the agent undoes only what it did: an administrator's cordon survives (was-unschedulable);
 * - a reboot is believed only when the bootID changed;
 * - after a reboot, a sentinel that is still there — or that cannot be read — counts an
 *   attempt; past the limit the node is held. Only a reading of "no reboot needed" ends a need.
 */
import {
  AgentPhase,
  Annotation,
  ConditionStatus,
  EventReason,
  type Grant,
  grantNaming,
  grantOf,
  isNodeReady,
  isRebootAcknowledged,
  type LeaseLike,
  mayStartUnder,
  needsReboot,
  REBOOTING_TAINT,
  recordedGrant,
} from '@baton/protocol';
import type { LabelPair, Taint as TaintSpec } from '@baton/protocol/config';
import { singleFlight } from '@baton/runtime';
import type { V1Node, V1Taint } from '@kubernetes/client-node';
import type { DrainOptions, DrainResult } from '../drain/index.ts';
import { type Rebooter, RebootNotStartedError } from '../host/rebooter.ts';
import type { EventSink, NodeApi } from '../kube/agent-api.ts';
import { attemptsOf, desiredCondition } from '../sentinel/condition.ts';
import type { SentinelReading } from '../sentinel/sentinel.ts';

export interface AgentSettings {
  readonly nodeName: string;
  readonly maxRebootAttempts: number;
  readonly drainDelayMs: number;
  readonly rebootDelayMs: number;
  /** How long a machine may take to go down after the reboot command (--shutdown-grace). */
  readonly shutdownGraceMs: number;
  readonly drainTimeoutPolicy: 'abort' | 'force';
  /** kured's --force-reboot: a refused drain (pods it may not evict) reboots anyway too. */
  readonly forceRefusedDrain: boolean;
  readonly preRebootLabels: readonly LabelPair[];
  readonly postRebootLabels: readonly LabelPair[];
  readonly preRebootTaint: TaintSpec | undefined;
}

export interface AgentClock {
  /** Wall-clock time, for the records people read (phase-since, Events). Decides nothing. */
  now(): Date;
  /** A clock that never jumps (performance.now()): every duration the agent waits is measured on it. */
  monotonicMs(): number;
  sleep(ms: number): Promise<void>;
}

export interface AgentDeps {
  readonly node: NodeApi;
  /**
   * The node as the watch last delivered it, if any. Used only to skip the idle case without a
   * request: the agent reconciles on every slot Lease change, and a GET of its Node each time
   * was most of its API load. Anything that may act reads the node fresh.
   */
  readonly watchedNode?: () => V1Node | undefined;
  readonly events: EventSink;
  /** The slot Leases as last seen, and whether that view is current (watch in sync). */
  readonly leases: { list(): readonly LeaseLike[]; synced(): boolean };
  /**
   * A fresh read of one slot Lease from the API server (not the watch), just before the reboot
   * command: the one step that cannot be undone is taken on a current view, never a lagging
   * one. Undefined when the Lease does not exist.
   */
  readonly readSlot: (name: string) => Promise<LeaseLike | undefined>;
  /** A fresh sentinel reading (used after the reboot, when it decides the attempt count). */
  readonly checkSentinel: () => Promise<SentinelReading>;
  /** The last sentinel reading, if any, without checking again. */
  readonly lastReading?: () => SentinelReading | undefined;
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
  | 'waiting-for-acknowledgement'
  | 'rebooting'
  | 'waiting-for-reboot'
  | 'waiting-for-ready'
  | 'completed';

const ACTING_PHASES: readonly string[] = [AgentPhase.Cordoning, AgentPhase.Draining];
const KNOWN_PHASES: readonly string[] = Object.values(AgentPhase);

/**
 * The agent was cordoning or draining: its phase says so — or says something that is no phase
 * at all (a hand edit) while its own record of the cordon state is still there (it is removed
 * when the work ends). Then it goes on under the same grant, or undoes its changes: never leaves
 * the node cordoned because a person overwrote a word.
 */
function interrupted(ann: Readonly<Record<string, string>>): boolean {
  const phase = ann[Annotation.Phase];
  if (phase !== undefined && ACTING_PHASES.includes(phase)) return true;
  return (
    ann[Annotation.WasUnschedulable] !== undefined &&
    ann[Annotation.RebootFromBootId] === undefined &&
    (phase === undefined || !KNOWN_PHASES.includes(phase))
  );
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

/** Decimal count annotations; absent or malformed counts as 0. */
function countOf(annotations: Readonly<Record<string, string>>, key: string): number {
  const raw = annotations[key];
  return raw !== undefined && /^\d{1,6}$/.test(raw) ? Number(raw) : 0;
}

export class Agent {
  readonly #s: AgentSettings;
  readonly #d: AgentDeps;
  /**
   * This process wrote the `Rebooting` record and has not given the command yet: it knows the
   * command was not given. A restarted process does not know that.
   */
  #recordedRebooting = false;
  /** When this process gave the reboot command (monotonic), under which grant, from which boot. */
  #command: { readonly at: number; readonly identity: string; readonly fromBootId: string } | undefined;
  readonly #steps = singleFlight(() => this.#reconcileOnce(), { again: true });
  /** The grant identity its node's record names, as last read (preferred should several name it). */
  #working: string | undefined;
  /** When this process started (monotonic): a restarted process counts the shutdown grace from here. */
  readonly #startedAt: number;

  constructor(settings: AgentSettings, deps: AgentDeps) {
    this.#s = settings;
    this.#d = deps;
    this.#startedAt = deps.clock.monotonicMs();
  }

  /**
   * Runs one reconcile; if called while one runs, runs exactly one more afterwards (changes seen
   * meanwhile are not lost, and calls never overlap).
   */
  reconcile(): Promise<Step> {
    return this.#steps.run();
  }

  /**
   * The grant naming this node in the watched Leases, if any (the one rule, protocol's grant.ts);
   * the one it works under while a Lease still carries it, should several name it.
   */
  #grant(): Grant | undefined {
    return grantNaming(this.#s.nodeName, this.#d.leases.list(), this.#working);
  }

  /** The grant recorded on the node is still the one a slot Lease carries. */
  #stillHolds(recorded: string | undefined): boolean {
    return recorded !== undefined && this.#d.leases.synced() && this.#grant()?.identity === recorded;
  }

  /**
   * True when this view of the node shows nothing to do: no reboot in flight, no cordon or
   * drain to resume or undo, no new grant, no attempt count to clear. A stale view costs
   * nothing here: the change it missed arrives through the watch and triggers another reconcile.
   */
  #idleGiven(node: V1Node): boolean {
    const ann = node.metadata?.annotations ?? {};
    if (ann[Annotation.RebootFromBootId] !== undefined) return false;
    if (interrupted(ann)) return false;
    if (this.#needEnded(ann)) return false;
    if (!this.#d.leases.synced()) return false;
    // A grant naming this node that its own record does not show as used: read the node fresh
    // (the view may lag behind this agent's own writes).
    const grant = this.#grant();
    return grant === undefined || grant.identity === recordedGrant(ann);
  }

  /** The sentinel says no reboot is needed while an attempt count is left from the last need. */
  #needEnded(ann: Readonly<Record<string, string>>): boolean {
    return (
      ann[Annotation.RebootAttempts] !== undefined &&
      ann[Annotation.RebootRequested] === undefined &&
      this.#d.lastReading?.()?.status === ConditionStatus.False
    );
  }

  async #reconcileOnce(): Promise<Step> {
    const watched = this.#d.watchedNode?.();
    const working = this.#command !== undefined || this.#recordedRebooting;
    if (watched !== undefined && !working && this.#idleGiven(watched)) return 'idle';
    let node = await this.#d.node.read();
    const command = this.#command;
    if (command !== undefined && node.metadata?.annotations?.[Annotation.RebootFromBootId] === undefined) {
      // 0. This process gave the reboot command and the node's record of it is gone (the Node
      // object deleted and registered again by its kubelet): write it back, so that the
      // controller and people see this machine may be going down even if its Lease is gone too.
      node = await this.#setPhase(AgentPhase.Rebooting, {
        [Annotation.Grant]: command.identity,
        [Annotation.RebootFromBootId]: command.fromBootId,
      });
      this.#d.log.warn(
        { grant: command.identity, bootId: command.fromBootId },
        'the record of the reboot under way was gone from the Node object; wrote it back',
      );
    }
    const ann = node.metadata?.annotations ?? {};
    const fromBootId = ann[Annotation.RebootFromBootId];
    const bootId = node.status?.nodeInfo?.bootID ?? '';
    const recorded = recordedGrant(ann);
    this.#working = recorded;

    // 1. A reboot is on record. Did it happen?
    if (fromBootId !== undefined) {
      if (bootId !== '' && bootId !== fromBootId) return this.#completeAfterReboot(node);
      return this.#beforeTheBoot(node, fromBootId, recorded);
    }

    if (!this.#d.leases.synced()) return 'waiting-for-sync';
    const grant = this.#grant();

    // 1b. The node's record of an acknowledged reboot is gone (the Node object was deleted and
    // registered again by its kubelet), but the Lease still says it: judge from the Lease.
    if (grant?.rebootFromBootId !== undefined && grant.identity !== recorded) {
      const from = grant.rebootFromBootId;
      if (bootId !== '' && bootId !== from) return this.#completeAfterReboot(node, grant.identity);
      if (this.#recordedRebooting) {
        // This process knows no command was given; the re-created Node is uncordoned and may run
        // pods again: never reboot it without a drain. Give the grant back.
        return this.#abort(node, 'the Node object was re-created before the reboot command', grant.identity);
      }
      return this.#beforeTheBoot(node, from, grant.identity, grant.identity);
    }

    // 2. Interrupted mid-way (agent restarted while cordoning or draining): go on only under the
    // very grant it started with.
    if (interrupted(ann)) {
      if (grant !== undefined && grant.identity === recorded) return this.#act(node, grant);
      return this.#abort(node, 'the grant it started under was revoked or replaced');
    }

    // 3. The need ended (the sentinel reads False): the attempt count belongs to it.
    if (this.#needEnded(ann)) {
      await this.#d.node.patchMetadata({ annotations: { [Annotation.RebootAttempts]: null } });
      this.#d.log.info({}, 'the sentinel says no reboot is needed any more; attempt count cleared');
    }

    // 4. A grant it has not used yet, for a node that needs a reboot.
    if (grant === undefined) return 'idle';
    if (!mayStartUnder(grant, ann)) return 'idle'; // one grant, one attempt
    const reading = await this.#d.checkSentinel();
    const condition = desiredCondition(reading, ann, this.#s.maxRebootAttempts);
    if (!needsReboot(condition)) {
      this.#d.log.info(
        { slot: grant.slot, condition: condition.reason },
        'granted, but this node does not need a reboot now; not acting',
      );
      return 'idle';
    }
    return this.#act(node, grant);
  }

  /**
   * The reboot is on record and the machine is still on the boot it reboots from: wait for the
   * acknowledgement and give the command, or wait for the machine to go down, or conclude that
   * it will not and undo.
   */
  async #beforeTheBoot(
    node: V1Node,
    fromBootId: string,
    recorded: string | undefined,
    /** The record was lost with the Node object: write this identity with the outcome. */
    restore?: string,
  ): Promise<Step> {
    const grace = this.#s.shutdownGraceMs;
    const now = this.#d.clock.monotonicMs();
    // The reboot did not happen only if, after the grace, a live kubelet says so: Ready on the
    // very boot it reboots from. A NotReady node may be booting behind a slow kubelet.
    const stillOnOldBoot = () => isNodeReady(node);
    if (this.#command !== undefined) {
      // This process gave the command: the machine is going down (a shutdown can take minutes).
      // A grant that lapses or is emptied meanwhile changes nothing.
      if (now - this.#command.at < grace || !stillOnOldBoot()) return 'waiting-for-reboot';
      return this.#abort(
        node,
        `the node was Ready on boot ${fromBootId} ${Math.round(grace / 1000)} s after the reboot command (--shutdown-grace): the reboot did not happen`,
        restore,
      );
    }
    if (this.#recordedRebooting) {
      // This process recorded the reboot and gave no command: nothing can be going down.
      if (!this.#d.leases.synced()) return 'waiting-for-sync';
      const grant = this.#grant();
      if (grant === undefined || grant.identity !== recorded)
        return this.#abort(node, 'the grant was revoked before the reboot command');
      if (!isRebootAcknowledged(grant, fromBootId)) return 'waiting-for-acknowledgement';
      return this.#giveCommand(node, grant, fromBootId);
    }
    // A restarted process. Its predecessor may have given the command just before it died, and
    // the machine may still be going down: wait out the whole grace from this process's start.
    // Only a grant that was never acknowledged proves no command was given.
    if (!this.#d.leases.synced()) return 'waiting-for-sync';
    const grant = this.#grant();
    const mine = grant !== undefined && grant.identity === recorded;
    if (mine && !isRebootAcknowledged(grant, fromBootId)) {
      this.#recordedRebooting = true;
      return 'waiting-for-acknowledgement';
    }
    if (now - this.#startedAt < grace || !stillOnOldBoot()) return 'waiting-for-reboot';
    return this.#abort(
      node,
      `restarted with a reboot on record, and Ready on boot ${fromBootId} after --shutdown-grace: the reboot did not happen`,
      restore,
    );
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
    // Record the grant and the node's own cordon state once, before touching it: the first
    // says which grant this work belongs to (for the controller, and so that it is never
    // started again under the same grant); the second decides whether we may uncordon later.
    this.#working = grant.identity;
    if (recordedGrant(ann) !== grant.identity || ann[Annotation.WasUnschedulable] === undefined) {
      await this.#setPhase(AgentPhase.Cordoning, {
        [Annotation.Grant]: grant.identity,
        [Annotation.WasUnschedulable]:
          ann[Annotation.WasUnschedulable] ?? String(node.spec?.unschedulable === true),
      });
      log.info(
        { grant: grant.identity, wasUnschedulable: node.spec?.unschedulable === true },
        'granted; cordoning',
      );
    }
    const stillGranted = async () => this.#stillHolds(grant.identity);
    if (!(await stillGranted()))
      return this.#abort(await this.#d.node.read(), 'the grant ended before the cordon');
    if (ann[Annotation.Phase] !== AgentPhase.Draining) {
      // Nothing is touched before the controller has acknowledged the start on the Lease, read
      // fresh: a grant released because this node did nothing can never race its cordon.
      const current = this.#grant();
      if (current === undefined || !current.started) return 'waiting-for-acknowledgement';
      const lease = await this.#d.readSlot(grant.slot);
      const fresh = lease === undefined ? undefined : grantOf(lease);
      if (fresh?.identity !== grant.identity || fresh.holder !== this.#s.nodeName)
        return this.#abort(await this.#d.node.read(), 'the grant was revoked before the cordon');
      if (!fresh.started) return 'waiting-for-acknowledgement';
    }

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
    const result = await this.#d.drain(stillGranted);
    log.info(
      { outcome: result.outcome, evicted: result.evicted, rounds: result.rounds, ms: result.elapsedMs },
      'drain ended',
    );

    switch (result.outcome) {
      case 'drained':
        break;
      case 'revoked':
        return this.#abort(await this.#d.node.read(), 'the grant was revoked during the drain');
      case 'cancelled':
        return 'idle';
      case 'refused': {
        const why = result.refused
          .map((r) => `${r.pod.metadata?.namespace}/${r.pod.metadata?.name}: ${r.reason}`)
          .join('; ');
        await this.#d.events.record('Warning', EventReason.DrainBlocked, `drain refused: ${why}`);
        if (!this.#s.forceRefusedDrain)
          return this.#abort(await this.#d.node.read(), `the drain was refused (${why})`);
        log.warn({ refused: result.refused.length }, 'drain refused; rebooting anyway (--force-reboot)');
        break;
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
    if (!(await stillGranted())) return this.#abort(fresh, 'the grant ended before the reboot');
    return this.#recordReboot(fresh, grant);
  }

  /**
   * Records the reboot (the boot it reboots from) and asks for the controller's acknowledgement,
   * which arrives on the slot Lease: from then on the Lease itself says this node may be down,
   * so deleting the Node object, or its annotations, cannot make the controller forget it.
   */
  async #recordReboot(node: V1Node, grant: Grant): Promise<Step> {
    const bootId = node.status?.nodeInfo?.bootID ?? '';
    if (bootId === '') {
      // Without a bootID the reboot could never be verified: refuse rather than loop.
      return this.#abort(
        node,
        'the node reports no status.nodeInfo.bootID, so a reboot could not be verified',
      );
    }
    await this.#setPhase(AgentPhase.Rebooting, { [Annotation.RebootFromBootId]: bootId });
    this.#recordedRebooting = true;
    this.#d.log.info(
      { bootId, grant: grant.identity },
      'drained; waiting for the controller to acknowledge the reboot',
    );
    if (isRebootAcknowledged(grant, bootId)) return this.#giveCommand(node, grant, bootId);
    return 'waiting-for-acknowledgement';
  }

  async #giveCommand(node: V1Node, grant: Grant, bootId: string): Promise<Step> {
    // The watch may lag: the one step that cannot be undone is taken on a fresh read.
    const lease = await this.#d.readSlot(grant.slot);
    const fresh = lease === undefined ? undefined : grantOf(lease);
    if (
      fresh?.identity !== grant.identity ||
      fresh.holder !== this.#s.nodeName ||
      !isRebootAcknowledged(fresh, bootId)
    ) {
      this.#recordedRebooting = false;
      return this.#abort(node, 'the grant was revoked before the reboot command');
    }
    await this.#d.events.record(
      'Normal',
      EventReason.Rebooting,
      `rebooting (${this.#d.rebooter.description}) from boot ${bootId}`,
    );
    this.#d.log.info({ bootId, how: this.#d.rebooter.description }, 'rebooting');
    this.#recordedRebooting = false;
    this.#command = { at: this.#d.clock.monotonicMs(), identity: grant.identity, fromBootId: bootId };
    try {
      await this.#d.rebooter.reboot();
    } catch (err) {
      const message = (err as Error).message;
      if (err instanceof RebootNotStartedError) {
        // The command never ran (not found, not executable): nothing can be going down.
        this.#command = undefined;
        await this.#d.events.record('Warning', EventReason.RebootAborted, message);
        return this.#abort(await this.#d.node.read(), `the reboot command could not be started: ${message}`);
      }
      // It ran and failed or timed out: the shutdown may be under way all the same (a
      // `systemctl reboot` that times out while the system goes down). Wait out the grace.
      this.#d.log.error(
        { err: message },
        'the reboot command failed; waiting --shutdown-grace in case the machine goes down anyway',
      );
      await this.#d.events.record(
        'Warning',
        EventReason.Rebooting,
        `the reboot command failed (${message}); waiting --shutdown-grace in case the machine goes down anyway`,
      );
      return 'waiting-for-reboot';
    }
    return 'rebooting';
  }

  async #completeAfterReboot(node: V1Node, restore?: string): Promise<Step> {
    const ann = node.metadata?.annotations ?? {};
    this.#command = undefined;
    this.#recordedRebooting = false;
    if (ann[Annotation.Phase] !== AgentPhase.Verifying || restore !== undefined)
      await this.#setPhase(
        AgentPhase.Verifying,
        restore === undefined ? {} : { [Annotation.Grant]: restore },
      );
    if (!isNodeReady(node)) return 'waiting-for-ready';

    const reading = await this.#d.checkSentinel();
    const requested = ann[Annotation.RebootRequested] !== undefined;
    // Only "no reboot needed" ends the need. A sentinel that cannot be read (a command that
    // times out right after boot) counts as still there — also after a reboot a person asked for:
    // the request is done, but the sentinel may still be there, and a reading that would reset
    // the count would let the next reading start another reboot under the same need (found by
    // the long simulation, seed 20269126, schedule 193,051).
    const satisfied = reading.status === ConditionStatus.False;
    // A count that is not one stays as written (held): a hand edit never resets it.
    const attempts = satisfied ? 0 : attemptsOf(ann) + 1;
    const held = !satisfied && attempts >= this.#s.maxRebootAttempts;

    await this.#undoNodeChanges(ann[Annotation.WasUnschedulable] === 'false');
    if (this.#s.postRebootLabels.length > 0) {
      await this.#d.node.patchMetadata({
        labels: Object.fromEntries(this.#s.postRebootLabels.map((l) => [l.key, l.value])),
      });
    }
    // One patch for the record: a crash before it repeats the idempotent steps above, never
    // counts an attempt twice. The grant record stays: this grant is used up.
    await this.#setPhase(held ? AgentPhase.Held : AgentPhase.Rebooted, {
      ...(restore === undefined ? {} : { [Annotation.Grant]: restore }),
      [Annotation.RebootFromBootId]: null,
      [Annotation.WasUnschedulable]: null,
      [Annotation.AbortedGrants]: null,
      [Annotation.RebootAttempts]:
        attempts === 0
          ? null
          : Number.isFinite(attempts)
            ? String(attempts)
            : (ann[Annotation.RebootAttempts] ?? null),
      ...(requested ? { [Annotation.RebootRequested]: null } : {}),
    });
    const bootId = node.status?.nodeInfo?.bootID;
    if (held) {
      await this.#d.events.record(
        'Warning',
        EventReason.RebootHeld,
        `rebooted (boot ${bootId}) but the sentinel is still there (${reading.status}) after ${attempts} reboot(s); held, not rebooting again. Delete annotation ${Annotation.RebootAttempts} to retry.`,
      );
    } else {
      await this.#d.events.record(
        'Normal',
        EventReason.Rebooted,
        `rebooted into boot ${bootId}${satisfied ? '' : ` (sentinel ${reading.status === ConditionStatus.True ? 'still present' : 'unreadable'}: attempt ${attempts} of ${this.#s.maxRebootAttempts})`}`,
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

  /**
   * Undoes what the agent did under its grant and records `Aborted`: the grant is used up (the
   * controller releases it once the node has settled, and backs off before granting this node
   * again), and the count of grants in a row that ended without a reboot goes up.
   */
  async #abort(node: V1Node, why: string, restore?: string): Promise<Step> {
    const ann = node.metadata?.annotations ?? {};
    this.#recordedRebooting = false;
    this.#command = undefined;
    await this.#undoNodeChanges(ann[Annotation.WasUnschedulable] === 'false');
    await this.#setPhase(AgentPhase.Aborted, {
      ...(restore === undefined ? {} : { [Annotation.Grant]: restore }),
      [Annotation.RebootFromBootId]: null,
      [Annotation.WasUnschedulable]: null,
      [Annotation.AbortedGrants]: String(countOf(ann, Annotation.AbortedGrants) + 1),
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
