/**
 * The safety promises, checked after every step of a run from the simulation's ground truth
 * (which machine is really down, which Lease really names whom at that instant), never from
 * what baton believes:
 *
 * (a) `too-many-down`: machines down — from the reboot command until Ready again on a new
 *     boot — never more than the concurrency.
 * (b) `reboot-without-grant`: a reboot command is given only while a slot Lease names the node,
 *     and the same acquisition of it under which the agent started (cordoned) this attempt —
 *     unless a person emptied or deleted that Lease (an override racing the agent's last check).
 * (c) `reboot-loop`: at most --max-reboot-attempts reboots per need (a need starts when the
 *     sentinel appears, a person asks, or a person resets the count).
 * (d) `not-at-rest`: once faults and edits stop, within the quiet period every machine is up,
 *     no node is cordoned or tainted by baton, no slot Lease names a node, no agent is mid-work.
 * (e) `admin-cordon-lifted`: a cordon a person put on a schedulable node is only ever lifted by
 *     a person.
 * (g) `grant-loop`: a node is granted at most --max-reboot-attempts + 6 times per need (retries
 *     after aborted or lapsed grants back off; without that a node whose drain is always refused
 *     is cordoned and uncordoned every few seconds, with an Event and a webhook each time).
 * (f) `granted-before-settled`: a grant is made only while the nodes holding a slot, plus the
 *     nodes baton disturbed (cordoned or rebooted) that have not yet been healthy for the
 *     settle time, stay within the concurrency. A node whose slot a person emptied or deleted is
 *     exempt (the documented override).
 */
import { AgentPhase, Annotation, REBOOTING_TAINT, SLOT_LEASE_PREFIX } from '@baton/protocol';
import type { V1Lease, V1Node } from '@kubernetes/client-node';
import type { SimApiServer, WriteRecord } from './api-server.ts';
import type { Machine } from './machine.ts';
import { Violation, type World } from './world.ts';

export interface InvariantSettings {
  readonly concurrency: number;
  readonly maxRebootAttempts: number;
  readonly settleMs: number;
}

const IN_FLIGHT: readonly string[] = [
  AgentPhase.Cordoning,
  AgentPhase.Draining,
  AgentPhase.Rebooting,
  AgentPhase.Verifying,
];

const holderOf = (o: unknown) => (o as V1Lease | undefined)?.spec?.holderIdentity ?? '';
const isSlot = (name: string) => name.startsWith(SLOT_LEASE_PREFIX);

export class Invariants {
  readonly #w: World;
  readonly #server: SimApiServer;
  readonly #machines: ReadonlyMap<string, Machine>;
  readonly #s: InvariantSettings;
  /** Per slot Lease: how many times a holder was put into it (an acquisition's identity). */
  readonly #acquisitions = new Map<string, number>();
  /** Per node: the acquisitions naming it when its agent cordoned it for this attempt. */
  readonly #startedUnder = new Map<string, Set<string>>();
  readonly #admin = new Set<string>();
  readonly #exempt = new Set<string>();
  /**
   * Nodes a person took a grant from (slot emptied or deleted, node given up on or deleted), with
   * that grant's identity: the settle rule (f) no longer covers them — not even for the work their
   * agent still does under that very grant after the override (a read just before it) — until
   * they work under another grant.
   */
  readonly #settleExempt = new Map<string, string | undefined>();
  /** Nodes whose agent-owned phase a person overwrote with garbage: baton holds them (fail closed). */
  readonly #tampered = new Set<string>();
  /** Nodes a person gave up on while their machine was down: not counted until they are up. */
  readonly #givenUpWhileDown = new Set<string>();
  /**
   * Nodes a person gave up on while their machine was up, before their agent's next reboot
   * command: the agent may have passed its last check (a fresh read of its slot) before the
   * give-up landed, so that one command races the override and is the override's, not baton's.
   */
  readonly #givenUpRacing = new Set<string>();
  /** Nodes baton cordoned or rebooted that have not settled yet, by ground truth. */
  readonly #disturbed = new Set<string>();
  readonly #healthySince = new Map<string, number>();
  readonly #rebootsThisNeed = new Map<string, number>();
  readonly #grantsThisNeed = new Map<string, number>();
  #pending: Violation | undefined;
  maxDown = 0;

  constructor(world: World, server: SimApiServer, machines: readonly Machine[], s: InvariantSettings) {
    this.#w = world;
    this.#server = server;
    this.#machines = new Map(machines.map((m) => [m.name, m]));
    this.#s = s;
    server.onWrite((w) => this.#onWrite(w));
    for (const m of machines) {
      m.onRebootCommand = (machine, goesDown) => this.#onRebootCommand(machine, goesDown);
      const set = m.setSentinel.bind(m);
      m.setSentinel = (present: boolean) => {
        if (present && !m.sentinel) this.#newNeed(m.name);
        set(present);
      };
    }
  }

  #fail(invariant: string, message: string): void {
    this.#pending ??= new Violation(invariant, this.#w.now, message);
  }

  adminCordon(node: string, cordoned: boolean): void {
    if (cordoned) this.#admin.add(node);
    else this.#admin.delete(node);
  }

  /**
   * A person wrote a phase that is not one: the controller cannot tell what the node is doing,
   * so it keeps the slot and halts the rollout until a person releases it. That slot need not be
   * free at rest; everything else must be.
   */
  tampered(node: string): void {
    this.#tampered.add(node);
  }

  /**
   * A person gave up on the node (kubectl baton release --force): it no longer counts, even if
   * its machine is still down — the one override that may put more machines down than allowed.
   */
  gaveUp(node: string): void {
    const m = this.#machines.get(node);
    if (m?.isDown()) this.#givenUpWhileDown.add(node);
    else this.#givenUpRacing.add(node);
  }

  overridden(node: string, identity: string | undefined): void {
    this.#exempt.add(node);
    this.#settleExempt.set(node, identity);
  }

  #newNeed(node: string): void {
    this.#rebootsThisNeed.set(node, 0);
    this.#grantsThisNeed.set(node, 0);
  }

  requested(node: string): void {
    this.#newNeed(node);
  }

  attemptsReset(node: string): void {
    this.#newNeed(node);
  }

  #slotLeases(): V1Lease[] {
    return (this.#server.all('lease') as V1Lease[]).filter((l) => isSlot(l.metadata?.name ?? ''));
  }

  #onWrite(w: WriteRecord): void {
    if (w.kind === 'lease' && isSlot(w.name)) {
      const before = holderOf(w.before);
      const after = holderOf(w.after);
      if (after !== '' && after !== before) {
        this.#acquisitions.set(w.name, (this.#acquisitions.get(w.name) ?? 0) + 1);
        if (this.#machines.has(after)) this.#onGrant(after, w);
      }
      return;
    }
    if (w.kind !== 'node') return;
    const before = w.before as V1Node | undefined;
    const after = w.after as V1Node | undefined;
    if (after === undefined) {
      this.#admin.delete(w.name);
      return;
    }
    const wasCordoned = before?.spec?.unschedulable === true;
    const cordoned = after.spec?.unschedulable === true;
    if (wasCordoned && !cordoned && w.actor !== 'person' && this.#admin.has(w.name)) {
      this.#fail('admin-cordon-lifted', `${w.actor} uncordoned ${w.name}, which a person had cordoned`);
    }
    if (!wasCordoned && cordoned && w.actor.startsWith('agent:')) {
      // Work under a new grant: an earlier override no longer covers this node.
      this.#exempt.delete(w.name);
      this.#givenUpRacing.delete(w.name);
      const recorded = after.metadata?.annotations?.[Annotation.Grant];
      const taken = this.#settleExempt.get(w.name);
      if (taken === undefined || recorded !== taken) this.#settleExempt.delete(w.name);
      this.#disturbed.add(w.name);
    }
    const phaseBefore = before?.metadata?.annotations?.[Annotation.Phase];
    const phase = after.metadata?.annotations?.[Annotation.Phase];
    if (
      phase === AgentPhase.Cordoning &&
      phaseBefore !== AgentPhase.Cordoning &&
      w.actor.startsWith('agent:')
    ) {
      this.#startedUnder.set(w.name, this.#acquisitionsNaming(w.name));
    }
  }

  #acquisitionsNaming(node: string): Set<string> {
    const out = new Set<string>();
    for (const l of this.#slotLeases()) {
      const name = l.metadata?.name ?? '';
      if (holderOf(l) === node) out.add(`${name}#${this.#acquisitions.get(name) ?? 0}`);
    }
    return out;
  }

  #onGrant(node: string, w: WriteRecord): void {
    const grants = (this.#grantsThisNeed.get(node) ?? 0) + 1;
    this.#grantsThisNeed.set(node, grants);
    if (grants > this.#s.maxRebootAttempts + 6) {
      this.#fail('grant-loop', `${node} was granted ${grants} times for one need`);
    }
    const holders = new Set(
      this.#slotLeases()
        .map(holderOf)
        .filter((h) => this.#machines.has(h)),
    );
    const unsettled = [...this.#disturbed].filter((n) => !holders.has(n) && !this.#settleExempt.has(n));
    if (holders.size + unsettled.length > this.#s.concurrency) {
      this.#fail(
        'granted-before-settled',
        `${w.actor} granted ${w.name} to ${node} while ${[...holders].join(', ')} hold slots and ${unsettled.join(', ')} ${unsettled.length === 1 ? 'has' : 'have'} not settled (concurrency ${this.#s.concurrency})`,
      );
    }
  }

  #onRebootCommand(m: Machine, goesDown: boolean): void {
    const naming = this.#acquisitionsNaming(m.name);
    // A person who emptied or deleted the slot raced the agent's last check: their override.
    if (this.#exempt.has(m.name)) {
      // still counted below
    } else if (naming.size === 0) {
      this.#fail('reboot-without-grant', `${m.name} was told to reboot while no slot Lease names it`);
    } else {
      const started = this.#startedUnder.get(m.name) ?? new Set<string>();
      if (![...naming].some((a) => started.has(a))) {
        this.#fail(
          'reboot-without-grant',
          `${m.name} was told to reboot under ${[...naming].join(', ')}, not under the grant it started with (${[...started].join(', ') || 'none'})`,
        );
      }
    }
    if (goesDown && this.#givenUpRacing.delete(m.name)) this.#givenUpWhileDown.add(m.name);
    if (goesDown) {
      const n = (this.#rebootsThisNeed.get(m.name) ?? 0) + 1;
      this.#rebootsThisNeed.set(m.name, n);
      if (n > this.#s.maxRebootAttempts) {
        this.#fail(
          'reboot-loop',
          `${m.name} rebooted ${n} times for one need (--max-reboot-attempts=${this.#s.maxRebootAttempts})`,
        );
      }
    }
    this.#disturbed.add(m.name);
  }

  /** After every step. */
  check(): void {
    let down = 0;
    for (const m of this.#machines.values()) {
      if (!m.isDown()) this.#givenUpWhileDown.delete(m.name);
      else if (!this.#givenUpWhileDown.has(m.name)) down++;
      const node = this.#server.peek('node', m.name) as V1Node | undefined;
      const ready = node?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
      const schedulable =
        node !== undefined && (node.spec?.unschedulable !== true || this.#admin.has(m.name));
      const healthy = m.up && !m.isDown() && ready && schedulable && m.podsReady();
      if (!healthy) this.#healthySince.delete(m.name);
      else if (!this.#healthySince.has(m.name)) this.#healthySince.set(m.name, this.#w.now);
      const since = this.#healthySince.get(m.name);
      if (since !== undefined && this.#w.now - since >= this.#s.settleMs) this.#disturbed.delete(m.name);
    }
    this.maxDown = Math.max(this.maxDown, down);
    if (down > this.#s.concurrency) {
      const names = [...this.#machines.values()]
        .filter((m) => m.isDown() && !this.#givenUpWhileDown.has(m.name))
        .map((m) => m.name);
      this.#fail(
        'too-many-down',
        `${down} machines down at once (${names.join(', ')}), concurrency ${this.#s.concurrency}`,
      );
    }
    if (this.#pending) throw this.#pending;
  }

  /**
   * At rest with nothing left to do: no machine needs a reboot any more (no sentinel, no request),
   * and everything {@link atRest} checks holds. Nothing that follows can change a verdict, so the
   * run may end early (most of a quiet period is idle ticking).
   */
  finished(): boolean {
    for (const m of this.#machines.values()) {
      if (m.sentinel || m.isDown() || !m.up) return false;
      const node = this.#server.peek('node', m.name) as V1Node | undefined;
      if (node === undefined) return false;
      if (node.metadata?.annotations?.[Annotation.RebootRequested] !== undefined) return false;
    }
    const before = this.#pending;
    try {
      this.atRest();
      return true;
    } catch {
      this.#pending = before;
      return false;
    }
  }

  /** At the end of the quiet period. */
  atRest(): void {
    for (const m of this.#machines.values()) {
      if (m.isDown()) this.#fail('not-at-rest', `${m.name} is still down`);
      const node = this.#server.peek('node', m.name) as V1Node | undefined;
      if (node === undefined) continue;
      if (node.spec?.unschedulable === true && !this.#admin.has(m.name))
        this.#fail('not-at-rest', `${m.name} is left cordoned (phase ${m.phase() ?? 'none'})`);
      if ((node.spec?.taints ?? []).some((t) => t.key === REBOOTING_TAINT.key))
        this.#fail('not-at-rest', `${m.name} keeps the ${REBOOTING_TAINT.key} taint`);
      const phase = m.phase();
      if (phase !== undefined && IN_FLIGHT.includes(phase) && !this.#tampered.has(m.name))
        this.#fail('not-at-rest', `${m.name} is still in phase ${phase}`);
    }
    for (const l of this.#slotLeases()) {
      const holder = holderOf(l);
      if (this.#machines.has(holder) && !this.#tampered.has(holder))
        this.#fail(
          'not-at-rest',
          `${l.metadata?.name} still names ${holder} (phase ${this.#machines.get(holder)?.phase() ?? 'none'})`,
        );
    }
    if (this.#pending) throw this.#pending;
  }
}
