/**
 * A scenario: the fleet, the settings, and what happens to them — faults, and people at the
 * keyboard — at given times. Plain data, so fast-check can generate it, shrink it (fewer
 * actions, smaller numbers) and print it; {@link runScenario} plays it.
 */
import {
  Annotation,
  emptiedSlot,
  grantOf,
  inFlightGrant,
  MANUAL_HOLDER_PREFIX,
  PAUSE_LEASE,
  recordedGrant,
  slotLeaseName,
} from '@baton/protocol';
import type { V1Lease, V1Node } from '@kubernetes/client-node';
import { SimApiServer } from './api-server.ts';
import { ControllerReplica } from './controller-replica.ts';
import { Invariants } from './invariants.ts';
import { Machine } from './machine.ts';
import { type Violation, World } from './world.ts';

export const NAMESPACE = 'baton';

export interface ScenarioConfig {
  /** Seeds every choice the world makes by itself (latencies, durations, delivery order). */
  readonly seed: number;
  readonly nodes: number;
  readonly concurrency: number;
  readonly replicas: number;
  readonly maxRebootAttempts: number;
  readonly settleMs: number;
  /** Nodes whose sentinel is set at the start. */
  readonly needing: number;
  /**
   * For the simulation's own tests only: what the invariants hold the fleet to, when it differs
   * from what baton is configured with (a check that cannot fail proves nothing).
   */
  readonly checkedAs?: { readonly concurrency?: number; readonly maxRebootAttempts?: number } | undefined;
}

/** Everything that can happen to the fleet. `target` picks a node, slot or replica by index. */
export type ActionKind =
  // the machines
  | 'need'
  | 'sticky-sentinel'
  | 'unknown-after-boot'
  | 'flaky-sentinel'
  | 'reboot-never'
  | 'reboot-fail'
  | 'reboot-fail-then-down'
  | 'reboot-hang'
  | 'reboot-not-started'
  | 'drain-refused'
  | 'drain-timeout'
  | 'slow-kubelet'
  // processes and the network
  | 'kill-agent'
  | 'kill-controller'
  | 'partition-agent'
  | 'partition-controller'
  | 'slow-controller'
  | 'pause-controller'
  | 'stall-controller-read'
  | 'slow-listing'
  | 'api-down'
  | 'api-restart'
  | 'relist-agent'
  | 'relist-controller'
  | 'lag-agent'
  | 'lag-controller'
  // clocks
  | 'skew-agent'
  | 'skew-controller'
  // people
  | 'delete-slot'
  | 'empty-slot'
  | 'garbage-slot'
  | 'future-slot'
  | 'manual-slot'
  | 'give-up'
  | 'pause'
  | 'resume'
  | 'cordon'
  | 'uncordon'
  | 'delete-node'
  | 'garbage-annotations'
  | 'garbage-condition'
  | 'request'
  | 'cancel'
  | 'clear-sentinel'
  | 'reset-attempts';

export const ACTION_KINDS: readonly ActionKind[] = [
  'need',
  'sticky-sentinel',
  'unknown-after-boot',
  'flaky-sentinel',
  'reboot-never',
  'reboot-fail',
  'reboot-fail-then-down',
  'reboot-hang',
  'reboot-not-started',
  'drain-refused',
  'drain-timeout',
  'slow-kubelet',
  'kill-agent',
  'kill-controller',
  'partition-agent',
  'partition-controller',
  'slow-controller',
  'pause-controller',
  'stall-controller-read',
  'slow-listing',
  'api-down',
  'api-restart',
  'relist-agent',
  'relist-controller',
  'lag-agent',
  'lag-controller',
  'skew-agent',
  'skew-controller',
  'delete-slot',
  'empty-slot',
  'garbage-slot',
  'future-slot',
  'manual-slot',
  'give-up',
  'pause',
  'resume',
  'cordon',
  'uncordon',
  'delete-node',
  'garbage-annotations',
  'garbage-condition',
  'request',
  'cancel',
  'clear-sentinel',
  'reset-attempts',
];

export interface Action {
  /** When, in ms from the start. */
  readonly at: number;
  readonly kind: ActionKind;
  readonly target: number;
  /** A size: a duration in ms, a clock offset, a choice among variants. */
  readonly arg: number;
}

export interface RunResult {
  readonly violation: Violation | undefined;
  readonly steps: number;
  readonly simulatedMs: number;
  readonly reboots: number;
  readonly trace: readonly string[];
}

/** Timings of the simulated fleet: the product's defaults scaled down so a run is short. */
export const SIM_TIMINGS = {
  grantDurationMs: 60_000,
  abortBackoffMs: 60_000,
  periodMs: 10_000,
  leaseDurationMs: 30_000,
  renewDeadlineMs: 20_000,
  retryPeriodMs: 8_000,
  rebootTimeoutMs: 15 * 60_000,
  shutdownGraceMs: 60_000,
  drainTimeoutMs: 120_000,
  heartbeatMs: 300_000,
  sentinelPollMs: 30_000,
  /** Faults and edits happen in this window; then the fleet is left alone to come to rest. */
  activeMs: 15 * 60_000,
  quietMs: 30 * 60_000,
} as const;

export async function runScenario(config: ScenarioConfig, actions: readonly Action[]): Promise<RunResult> {
  const t = SIM_TIMINGS;
  const world = new World(config.seed);
  const server = new SimApiServer(world, NAMESPACE);
  const machines: Machine[] = [];
  for (let i = 0; i < config.nodes; i++) {
    const m = new Machine(world, server, `node-${i}`, {
      agent: {
        maxRebootAttempts: config.maxRebootAttempts,
        drainDelayMs: 0,
        rebootDelayMs: 0,
        shutdownGraceMs: t.shutdownGraceMs,
        drainTimeoutPolicy: 'abort',
        forceRefusedDrain: false,
        preRebootLabels: [],
        postRebootLabels: [],
        preRebootTaint: undefined,
      },
      heartbeatMs: t.heartbeatMs,
      drainTimeoutMs: t.drainTimeoutMs,
      sentinelPollMs: t.sentinelPollMs,
    });
    m.register();
    if (i < config.needing) m.sentinel = true;
    machines.push(m);
  }
  const byName = new Map(machines.map((m) => [m.name, m]));
  const plan = {
    concurrency: config.concurrency,
    settleMs: config.settleMs,
    rebootTimeoutMs: t.rebootTimeoutMs,
    grantDurationMs: t.grantDurationMs,
    optOutLabel: 'baton.dev/opt-out',
    priorityLabel: 'baton.dev/priority',
    windows: [{ days: [0, 1, 2, 3, 4, 5, 6], startSeconds: 0, endSeconds: 86_399 }],
    timeZone: 'UTC',
    blackoutDates: [],
  };
  const facts = (node: string, now: Date) => {
    const m = byName.get(node);
    const ready = m?.podsReady() ?? false;
    return {
      pods: {
        observed: true,
        notReady: ready ? [] : ['shop/web-0'],
      },
      workloads: () => ({ ok: true, detail: 'available', checkedAt: now }),
    };
  };
  const replicas: ControllerReplica[] = [];
  for (let r = 0; r < config.replicas; r++) {
    replicas.push(
      new ControllerReplica(
        world,
        server,
        `controller-${r}`,
        {
          plan,
          grantDurationMs: t.grantDurationMs,
          abortBackoffMs: t.abortBackoffMs,
          periodMs: t.periodMs,
          leaseDurationMs: t.leaseDurationMs,
          renewDeadlineMs: t.renewDeadlineMs,
          retryPeriodMs: t.retryPeriodMs,
          leaderElect: config.replicas > 1,
        },
        facts,
      ),
    );
  }
  const invariants = new Invariants(world, server, machines, {
    concurrency: config.checkedAs?.concurrency ?? config.concurrency,
    maxRebootAttempts: config.checkedAs?.maxRebootAttempts ?? config.maxRebootAttempts,
    settleMs: config.settleMs,
  });
  for (const m of machines) m.startAgent();
  for (const r of replicas) r.start();

  const people = new People(world, server, machines, replicas, invariants);
  for (const a of actions) {
    if (a.at > t.activeMs) continue;
    world.schedule(a.at, () => people.act(a));
  }
  // Faults stop: every machine behaves, every process runs, every link works.
  world.schedule(t.activeMs, () => people.calm());
  // Once nothing is left to do and everything is at rest, the rest of the quiet period is idle.
  const finishedYet = () => {
    if (invariants.finished()) world.stop();
    else world.schedule(60_000, finishedYet);
  };
  world.schedule(t.activeMs + 120_000, finishedYet);

  let violation: Violation | undefined;
  try {
    await world.run(t.activeMs + t.quietMs, () => invariants.check());
    invariants.atRest();
  } catch (err) {
    if (err instanceof Error && 'invariant' in err) violation = err as Violation;
    else throw err;
  } finally {
    for (const r of replicas) r.kill();
    for (const m of machines) m.killAgent();
  }
  return {
    violation,
    steps: world.steps,
    simulatedMs: world.now,
    reboots: machines.reduce((n, m) => n + m.reboots.length, 0),
    trace: world.trace,
  };
}

/** Carries out the actions: the faults and the people. */
class People {
  readonly #w: World;
  readonly #server: SimApiServer;
  readonly #machines: readonly Machine[];
  readonly #replicas: readonly ControllerReplica[];
  readonly #inv: Invariants;

  constructor(
    world: World,
    server: SimApiServer,
    machines: readonly Machine[],
    replicas: readonly ControllerReplica[],
    inv: Invariants,
  ) {
    this.#w = world;
    this.#server = server;
    this.#machines = machines;
    this.#replicas = replicas;
    this.#inv = inv;
  }

  #machine(i: number): Machine {
    return this.#machines[i % this.#machines.length] as Machine;
  }

  #replica(i: number): ControllerReplica {
    return this.#replicas[i % this.#replicas.length] as ControllerReplica;
  }

  /** A person's kubectl call: straight to the API server; a refusal is what kubectl prints. */
  #kubectl(what: string, fn: () => void): void {
    try {
      fn();
      this.#w.log('person', what);
    } catch (err) {
      this.#w.log('person', `${what}: refused (${(err as Error).message})`);
    }
  }

  #slotName(i: number): string {
    return slotLeaseName(i % 3);
  }

  act(a: Action): void {
    const w = this.#w;
    const m = this.#machine(a.target);
    const r = this.#replica(a.target);
    const dur = 1_000 + (a.arg % 120_000);
    switch (a.kind) {
      case 'need':
        w.log(m.name, 'sentinel set');
        m.setSentinel(true);
        return;
      case 'clear-sentinel':
        w.log(m.name, 'sentinel cleared');
        m.setSentinel(false);
        return;
      case 'sticky-sentinel':
        m.stickySentinel = true;
        w.log(m.name, 'sentinel now survives reboots');
        return;
      case 'unknown-after-boot':
        m.unknownAfterBootMs = dur;
        w.log(m.name, `sentinel reads Unknown for ${dur} ms after each boot`);
        return;
      case 'flaky-sentinel':
        m.flakyReadings = 0.3;
        w.log(m.name, 'sentinel readings flaky');
        return;
      case 'reboot-never':
      case 'reboot-fail':
      case 'reboot-fail-then-down':
        m.rebootBehavior =
          a.kind === 'reboot-never' ? 'never' : a.kind === 'reboot-fail' ? 'fail' : 'fail-then-down';
        w.log(m.name, `reboot behaviour ${m.rebootBehavior}`);
        return;
      case 'drain-refused':
      case 'drain-timeout':
        m.drainBehavior = a.kind === 'drain-refused' ? 'refused' : 'timeout';
        w.log(m.name, `drain behaviour ${m.drainBehavior}`);
        return;
      case 'slow-kubelet':
        m.slowKubeletMs = dur;
        w.log(m.name, `kubelet posts status ${dur} ms after a boot`);
        return;
      case 'kill-agent':
        m.killAgent();
        w.schedule(dur, () => m.startAgent());
        return;
      case 'kill-controller':
        if (!r.link.alive) return;
        r.kill();
        w.schedule(dur, () => {
          if (!r.link.alive) r.restart();
        });
        return;
      case 'partition-agent':
      case 'partition-controller': {
        const link = a.kind === 'partition-agent' ? m.link : r.link;
        link.partitioned = true;
        w.log(link.name, `cut off from the API server for ${dur} ms`);
        w.schedule(dur, () => {
          link.partitioned = false;
        });
        return;
      }
      case 'slow-controller':
        r.link.slowFactor = 50;
        w.log(r.id, `slow for ${dur} ms`);
        w.schedule(dur, () => {
          r.link.slowFactor = 1;
        });
        return;
      case 'pause-controller':
        // A stop-the-world pause: long enough, at the wrong moment, for the other replica to take
        // over while this one still believes it leads.
        r.link.frozenUntil = w.now + dur;
        w.log(r.id, `frozen for ${dur} ms`);
        return;
      case 'stall-controller-read':
        // The replica's next read of a Lease is followed by a stop-the-world pause: whatever it
        // writes next, it writes on an old view (a classic deposed-leader hazard).
        r.link.stallNextLeaseRead = dur;
        w.log(r.id, `its next Lease read is followed by a ${dur} ms pause`);
        return;
      case 'slow-listing':
        r.listingDelayMs = dur;
        w.log(r.id, `workload listings take ${dur} ms`);
        w.schedule(dur * 3, () => {
          r.listingDelayMs = 0;
        });
        return;
      case 'api-down':
        this.#server.down = true;
        w.log('api-server', `down for ${dur} ms`);
        this.#server.restart();
        w.schedule(dur, () => {
          this.#server.down = false;
        });
        return;
      case 'api-restart':
        w.log('api-server', 'restarted: every watch ends');
        this.#server.restart();
        return;
      case 'relist-agent':
      case 'relist-controller':
        w.log(a.kind === 'relist-agent' ? m.link.name : r.id, 'watch expired (410): relist');
        // Both caches of the process relist; the restart hook covers every informer.
        this.#server.restart();
        return;
      case 'lag-agent':
      case 'lag-controller': {
        const link = a.kind === 'lag-agent' ? m.link : r.link;
        link.slowFactor = 20;
        w.log(link.name, `watch and requests lag for ${dur} ms`);
        w.schedule(dur, () => {
          link.slowFactor = 1;
        });
        return;
      }
      case 'skew-agent':
      case 'skew-controller': {
        const clock = a.kind === 'skew-agent' ? m.clock : r.clock;
        // ±30 min, in steps of a second or so; the arg picks where.
        const offset = ((a.arg % 3_600_001) - 1_800_000) | 0;
        clock.offsetMs = offset;
        w.log(a.kind === 'skew-agent' ? m.name : r.id, `clock offset now ${offset} ms`);
        return;
      }
      case 'delete-slot': {
        const name = this.#slotName(a.target);
        this.#override(name);
        this.#kubectl(`kubectl delete lease ${name}`, () => this.#server.delete('lease', name, 'person'));
        return;
      }
      case 'empty-slot': {
        const name = this.#slotName(a.target);
        this.#override(name);
        this.#kubectl(`kubectl patch lease ${name} holderIdentity=null`, () => {
          const l = this.#server.get('lease', name) as V1Lease;
          l.spec = { ...l.spec, holderIdentity: undefined };
          this.#server.replace('lease', name, l, 'person');
        });
        return;
      }
      case 'garbage-slot': {
        const name = this.#slotName(a.target);
        const variant = a.arg % 4;
        this.#kubectl(`kubectl edit lease ${name} (garbage variant ${variant})`, () => {
          const l = this.#server.get('lease', name) as V1Lease;
          const spec = { ...l.spec };
          if (variant === 0) spec.holderIdentity = 'not-a-node';
          if (variant === 1) delete spec.leaseDurationSeconds;
          if (variant === 2) spec.leaseDurationSeconds = 1;
          if (variant === 3)
            l.metadata = {
              ...l.metadata,
              annotations: { ...l.metadata?.annotations, 'baton.dev/granted-node': 'x' },
            };
          l.spec = spec;
          this.#server.replace('lease', name, l, 'person');
        });
        return;
      }
      case 'future-slot': {
        const name = this.#slotName(a.target);
        this.#kubectl(`kubectl edit lease ${name} renewTime +${dur} ms`, () => {
          const l = this.#server.get('lease', name) as V1Lease;
          const at = new Date(Date.parse(String(l.spec?.renewTime ?? new Date(0).toISOString())) + dur);
          l.spec = { ...l.spec, renewTime: at.toISOString() as unknown as Date };
          this.#server.replace('lease', name, l, 'person');
        });
        return;
      }
      case 'manual-slot': {
        const name = this.#slotName(a.target);
        this.#kubectl(`kubectl create lease ${name} held by ${MANUAL_HOLDER_PREFIX}ops`, () =>
          this.#server.create(
            'lease',
            { metadata: { name }, spec: { holderIdentity: `${MANUAL_HOLDER_PREFIX}ops` } } as V1Lease,
            'person',
          ),
        );
        return;
      }
      case 'give-up': {
        // kubectl baton release NODE --force: empty its slot and write baton.dev/given-up.
        this.#inv.overridden(m.name, this.#recordedGrantOf(m.name));
        this.#inv.gaveUp(m.name);
        this.#kubectl(`kubectl baton release ${m.name} --force`, () => {
          for (const l of this.#server.all('lease') as V1Lease[]) {
            const name = l.metadata?.name ?? '';
            if (name.startsWith('baton-slot-') && l.spec?.holderIdentity === m.name)
              this.#server.replace('lease', name, emptiedSlot(l), 'person');
          }
          const node = this.#server.peek('node', m.name) as V1Node | undefined;
          const identity = inFlightGrant(node?.metadata?.annotations ?? {});
          if (identity !== undefined)
            this.#server.patchMetadata(
              'node',
              m.name,
              { annotations: { [Annotation.GivenUp]: identity } },
              'person',
            );
        });
        return;
      }
      case 'pause':
        this.#kubectl('kubectl baton pause', () =>
          this.#server.create(
            'lease',
            {
              metadata: { name: PAUSE_LEASE },
              spec: { holderIdentity: `${MANUAL_HOLDER_PREFIX}ops` },
            } as V1Lease,
            'person',
          ),
        );
        return;
      case 'resume':
        this.#kubectl('kubectl baton resume', () => this.#server.delete('lease', PAUSE_LEASE, 'person'));
        return;
      case 'cordon':
      case 'uncordon': {
        const cordon = a.kind === 'cordon';
        this.#kubectl(`kubectl ${a.kind} ${m.name}`, () => {
          const n = this.#server.get('node', m.name) as V1Node;
          const was = n.spec?.unschedulable === true;
          if (was === cordon) return;
          n.spec = { ...n.spec, unschedulable: cordon };
          this.#server.replace('node', m.name, n, 'person');
          this.#inv.adminCordon(m.name, cordon);
        });
        return;
      }
      case 'delete-node':
        // Its pods and cordon go with the object: the settle rule cannot hold for it (an override),
        // the count of machines down must. So does its attempt count: a new count starts.
        this.#inv.overridden(m.name, this.#recordedGrantOf(m.name));
        this.#inv.attemptsReset(m.name);
        this.#kubectl(`kubectl delete node ${m.name}`, () => this.#server.delete('node', m.name, 'person'));
        // The kubelet registers the node again when it next syncs (if the machine is up).
        w.schedule(dur, () => {
          if (m.up && this.#server.peek('node', m.name) === undefined) {
            m.register();
            w.log(`kubelet:${m.name}`, 're-registered the node');
          }
        });
        return;
      case 'garbage-annotations': {
        const variant = a.arg % 4;
        const annotations: Record<string, string> = [
          { [Annotation.Phase]: 'Exploded' },
          { [Annotation.PhaseSince]: 'yesterday' },
          { [Annotation.RebootAttempts]: '-7' },
          { [Annotation.PhaseSince]: new Date(Date.now() + 86_400_000).toISOString() },
        ][variant] as Record<string, string>;
        this.#kubectl(`kubectl annotate node ${m.name} ${JSON.stringify(annotations)}`, () =>
          this.#server.patchMetadata('node', m.name, { annotations }, 'person'),
        );
        if (variant === 0) this.#inv.tampered(m.name);
        return;
      }
      case 'garbage-condition': {
        // A person (or a rogue controller) edits the agent's RebootRequired condition: a status
        // that is not one, or True with a reason of their own. The agent writes it back on its
        // next report; meanwhile the controller must not act on nonsense.
        const variant = a.arg % 3;
        const condition = [
          { type: 'RebootRequired', status: 'Maybe', reason: 'Whatever', message: 'edited by hand' },
          { type: 'RebootRequired', status: 'True', reason: 'BecauseISaidSo', message: 'edited by hand' },
          { type: 'RebootRequired', status: 'False', reason: 'NoSentinel', message: 'edited by hand' },
        ][variant] as { type: string; status: string; reason: string; message: string };
        this.#kubectl(
          `kubectl edit node ${m.name} --subresource=status (RebootRequired ${condition.status}/${condition.reason})`,
          () => this.#server.patchNodeConditions(m.name, [condition], 'person'),
        );
        // A True written by hand is a person asking: a need of its own.
        if (condition.status === 'True') this.#inv.requested(m.name);
        return;
      }
      case 'request':
        this.#kubectl(`kubectl baton request ${m.name}`, () =>
          this.#server.patchMetadata(
            'node',
            m.name,
            { annotations: { [Annotation.RebootRequested]: 'ops' } },
            'person',
          ),
        );
        this.#inv.requested(m.name);
        return;
      case 'cancel':
        this.#kubectl(`kubectl baton cancel ${m.name}`, () =>
          this.#server.patchMetadata(
            'node',
            m.name,
            { annotations: { [Annotation.RebootRequested]: null } },
            'person',
          ),
        );
        return;
      case 'reset-attempts':
        this.#kubectl(`kubectl annotate node ${m.name} ${Annotation.RebootAttempts}-`, () =>
          this.#server.patchMetadata(
            'node',
            m.name,
            { annotations: { [Annotation.RebootAttempts]: null } },
            'person',
          ),
        );
        this.#inv.attemptsReset(m.name);
        return;
    }
  }

  /** A person takes a slot away: its holder is exempt from the settle rule (an override). */
  #override(slot: string): void {
    const lease = this.#server.peek('lease', slot) as V1Lease | undefined;
    const holder = lease?.spec?.holderIdentity;
    const identity = lease === undefined ? undefined : grantOf(lease)?.identity;
    if (holder) this.#inv.overridden(holder, identity);
  }

  /** The grant the node's record names (ground truth read by the harness, not by baton). */
  #recordedGrantOf(node: string): string | undefined {
    const n = this.#server.peek('node', node) as V1Node | undefined;
    return recordedGrant(n?.metadata?.annotations ?? {});
  }

  /** Faults stop: machines behave, processes run, links work. People's state (pause, holds) stays. */
  calm(): void {
    const w = this.#w;
    w.log('world', 'faults stop');
    this.#server.down = false;
    for (const m of this.#machines) {
      m.rebootBehavior = 'normal';
      m.drainBehavior = 'ok';
      m.flakyReadings = 0;
      m.unknownAfterBootMs = 0;
      m.slowKubeletMs = 0;
      m.link.partitioned = false;
      m.link.slowFactor = 1;
      if (m.up && !m.agentRunning) m.startAgent();
      if (m.up && this.#server.peek('node', m.name) === undefined) m.register();
    }
    for (const r of this.#replicas) {
      r.link.partitioned = false;
      r.link.slowFactor = 1;
      r.listingDelayMs = 0;
      if (!r.link.alive) r.restart();
    }
  }
}
