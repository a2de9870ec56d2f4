/**
 * A node of the simulation: the machine (its boots, its sentinel, how it takes a reboot command,
 * how its pods drain and come back), its kubelet (writes Ready and the bootID to the Node), and
 * the agent process on it: the real Agent and Reporter over the simulated API server and the
 * machine's own clock, wired as the agent process wires them (a reconcile on every change of its
 * Node or of a slot Lease, on a sentinel change and every 5 s; a report on every change and
 * heartbeat).
 *
 * The machine is the ground truth the invariants read: when it was told to reboot, when it was
 * actually down, when it was Ready again on a new boot.
 */
import { Annotation, REBOOT_REQUIRED_CONDITION, SLOT_LEASE_PREFIX } from '@baton/protocol';
import { updateWithRetry } from '@baton/runtime';
import type { V1Lease, V1Node } from '@kubernetes/client-node';
import type { DrainResult } from '../packages/agent/src/drain/index.ts';
import { RebootNotStartedError } from '../packages/agent/src/host/rebooter.ts';
import type { NodeApi } from '../packages/agent/src/kube/agent-api.ts';
import { Agent, type AgentSettings } from '../packages/agent/src/reboot/agent.ts';
import { Reporter } from '../packages/agent/src/sentinel/reporter.ts';
import type { SentinelReading } from '../packages/agent/src/sentinel/sentinel.ts';
import type { SimApiServer } from './api-server.ts';
import { ProcessLink, SimInformer } from './net.ts';
import { MachineClock, type World } from './world.ts';

/** How the machine answers the reboot command. */
export type RebootBehavior =
  /** The command exits 0 and the machine goes down a little later. */
  | 'normal'
  /** The command exits 0 and nothing happens (a broken systemd, a PID 1 that ignores the signal). */
  | 'never'
  /** The command fails and nothing happens. */
  | 'fail'
  /** The command fails (or times out), but the shutdown is already under way. */
  | 'fail-then-down'
  /** The command hangs until the agent's 60 s timeout kills it; the machine goes down or not. */
  | 'hang'
  /** The command cannot even start (not found): nothing goes down. */
  | 'not-started';

/** How the drain goes. */
export type DrainBehavior = 'ok' | 'refused' | 'timeout';

export interface MachineSettings {
  readonly agent: Omit<AgentSettings, 'nodeName'>;
  readonly heartbeatMs: number;
  readonly drainTimeoutMs: number;
  readonly sentinelPollMs: number;
}

/** One reboot as it really happened, for the invariants. */
export interface RebootRecord {
  readonly node: string;
  /** When the reboot command was given (the machine counts as down from here). */
  readonly commandAt: number;
  /** Ready again on a new boot; undefined while down. */
  upAt: number | undefined;
}

let bootCounter = 0;
const newBootId = () => `boot-${(++bootCounter).toString(36)}`;

export class Machine {
  readonly name: string;
  readonly world: World;
  readonly server: SimApiServer;
  readonly clock: MachineClock;
  readonly link: ProcessLink;
  readonly #s: MachineSettings;
  bootId = newBootId();
  /** The machine is running (not shutting down or booting). */
  up = true;
  /** Something on the machine wants a reboot (a package manager's file). */
  sentinel = false;
  /** The sentinel survives a reboot (what asks for it is not fixed by rebooting). */
  stickySentinel = false;
  /** The sentinel command times out for this long after each boot (reads Unknown). */
  unknownAfterBootMs = 0;
  /** Random Unknown readings (a flaky command), as a probability per reading. */
  flakyReadings = 0;
  bootedAt = 0;
  rebootBehavior: RebootBehavior = 'normal';
  drainBehavior: DrainBehavior = 'ok';
  /** A slow kubelet: after a boot it posts the new bootID and Ready this late (else within 1.5 s). */
  slowKubeletMs = 0;
  /** Pods on the node are Ready again this long after the node is. */
  podsDelayMs = 5_000;
  podsReadyAt = 0;
  /** The agent process runs (it dies with the machine, or by a fault). */
  agentRunning = false;
  /** Every reboot command that took effect or will, in order. */
  readonly reboots: RebootRecord[] = [];
  /** Called when the node's pods are Ready again after a boot (the controller's pod watch fires). */
  onPodsReady: ((m: Machine) => void) | undefined;
  /** Observers: called with the machine when the agent gives the reboot command. */
  onRebootCommand: ((m: Machine, goesDown: boolean) => void) | undefined;
  #agent: Agent | undefined;
  #reading: SentinelReading | undefined;
  #onSentinelChange: (() => void) | undefined;

  constructor(world: World, server: SimApiServer, name: string, s: MachineSettings) {
    this.world = world;
    this.server = server;
    this.name = name;
    this.#s = s;
    this.clock = new MachineClock(world);
    this.link = new ProcessLink(world, server, `agent:${name}`);
  }

  /** The Node as its kubelet registers it (Ready on this boot, if the machine is up). */
  register(): void {
    const open = this.reboots.at(-1);
    if (this.up && open !== undefined && open.upAt === undefined && this.bootedAt > open.commandAt)
      open.upAt = this.world.now;
    const now = this.clock.wall().toISOString();
    this.server.create(
      'node',
      {
        metadata: { name: this.name, labels: { 'kubernetes.io/hostname': this.name } },
        spec: {},
        status: {
          nodeInfo: { bootID: this.bootId } as never,
          conditions: [
            {
              type: 'Ready',
              status: this.up ? 'True' : 'False',
              reason: 'KubeletReady',
              lastTransitionTime: now as unknown as Date,
              lastHeartbeatTime: now as unknown as Date,
            },
          ],
        },
      },
      `kubelet:${this.name}`,
    );
  }

  /** Down: no reboot record open, or the last one is up again. */
  isDown(): boolean {
    const last = this.reboots.at(-1);
    return last !== undefined && last.upAt === undefined;
  }

  setSentinel(present: boolean): void {
    this.sentinel = present;
    this.#onSentinelChange?.();
  }

  reading(): SentinelReading {
    const sinceBoot = this.world.now - this.bootedAt;
    if (sinceBoot < this.unknownAfterBootMs || this.world.rng.chance(this.flakyReadings)) {
      return { status: 'Unknown', reason: 'SentinelError', message: 'the sentinel command timed out' };
    }
    return this.sentinel
      ? { status: 'True', reason: 'SentinelPresent', message: 'sentinel present' }
      : { status: 'False', reason: 'NoSentinel', message: 'no sentinel' };
  }

  podsReady(): boolean {
    return this.up && this.world.now >= this.podsReadyAt;
  }

  /** Starts the agent process (after a boot, or after it was killed). */
  startAgent(): void {
    if (!this.up || this.agentRunning) return;
    this.agentRunning = true;
    this.link.revive();
    const world = this.world;
    const link = this.link;
    const gen = link.generation;
    const alive = () => link.alive && link.generation === gen;
    const timer = (ms: number, fn: () => void) =>
      world.schedule(ms, () => {
        if (alive()) fn();
      });
    const sleep = (ms: number) => new Promise<void>((resolve) => timer(ms, resolve));
    const server = this.server;
    const actor = `agent:${this.name}`;
    const name = this.name;
    const nodes = new SimInformer<V1Node>(link, 'node', (o) => o.metadata?.name === name);
    // The agent ignores every Lease but the slots (the leader Lease renews every few seconds).
    const leases = new SimInformer<V1Lease>(
      link,
      'lease',
      (o) => o.metadata?.name?.startsWith(SLOT_LEASE_PREFIX) === true,
    );
    const read = () => link.call(() => server.get('node', name) as V1Node);
    const nodeApi: NodeApi = {
      read,
      patchCondition: (entry) => link.call(() => server.patchNodeConditions(name, [entry], actor)),
      patchMetadata: (patch) => link.call(() => server.patchMetadata('node', name, patch, actor) as V1Node),
      update: async (mutate) =>
        (
          await updateWithRetry(
            read,
            mutate,
            (body) => link.call(() => server.replace('node', name, body, actor) as V1Node),
            { sleep },
          )
        ).object,
    };
    let inFlight: Promise<SentinelReading> | undefined;
    const checkNow = (): Promise<SentinelReading> => {
      inFlight ??= Promise.resolve().then(() => {
        inFlight = undefined;
        const r = this.reading();
        const before = this.#reading;
        this.#reading = r;
        if (before === undefined || before.status !== r.status || before.reason !== r.reason) {
          world.log(actor, `sentinel reads ${r.status}`);
          report();
          reconcile();
        }
        return r;
      });
      return inFlight;
    };
    this.#reading = undefined;
    this.#onSentinelChange = () => {
      if (alive()) void checkNow();
    };
    const reporter = new Reporter({
      node: nodeApi,
      maxRebootAttempts: this.#s.agent.maxRebootAttempts,
      heartbeatMs: this.#s.heartbeatMs,
      now: () => this.clock.wall(),
    });
    const agent = new Agent(
      { ...this.#s.agent, nodeName: name },
      {
        node: nodeApi,
        watchedNode: () => (nodes.synced() ? nodes.get(name) : undefined),
        events: {
          record: async (_type, reason, message) => world.log(actor, `event ${reason}: ${message}`),
        },
        leases: { list: () => leases.list(), synced: () => leases.synced() },
        readSlot: (slot) => link.call(() => server.peek('lease', slot) as V1Lease | undefined),
        checkSentinel: checkNow,
        lastReading: () => this.#reading,
        drain: (stillGranted) => this.#drain(stillGranted, sleep),
        rebooter: {
          description: 'simulated',
          reboot: () => this.#rebootCommand(sleep),
        },
        clock: { now: () => this.clock.wall(), monotonicMs: () => this.clock.monotonic(), sleep },
        log: {
          info: (_o, msg) => world.log(actor, msg),
          warn: (_o, msg) => world.log(actor, msg),
          error: (_o, msg) => world.log(actor, msg),
        },
      },
    );
    this.#agent = agent;
    const report = () => {
      const reading = this.#reading;
      if (reading === undefined || !alive() || !nodes.synced()) return;
      reporter.report(reading, nodes.get(name)).catch(() => undefined);
    };
    const reconcile = () => {
      if (!alive() || !nodes.synced() || !leases.synced()) return;
      agent.reconcile().then(
        (step) => {
          if (step !== 'idle') world.log(actor, `reconcile: ${step}`);
        },
        (err: unknown) => world.log(actor, `reconcile failed: ${String(err)}`),
      );
    };
    nodes.onChange(() => {
      report();
      reconcile();
    });
    leases.onChange((_e, lease) => {
      if (lease === undefined || lease.metadata?.name?.startsWith(SLOT_LEASE_PREFIX)) reconcile();
    });
    nodes.start();
    leases.start();
    const every = (ms: number, fn: () => void) => {
      const loop = () => {
        fn();
        timer(ms, loop);
      };
      timer(ms, loop);
    };
    every(this.#s.sentinelPollMs, () => void checkNow());
    every(Math.max(1000, Math.floor(this.#s.heartbeatMs / 4)), report);
    every(15_000, reconcile); // the real agent: 5 s; only a safety net for missed events
    void checkNow();
    world.log(actor, 'agent started');
  }

  killAgent(): void {
    if (!this.agentRunning) return;
    this.agentRunning = false;
    this.link.kill();
    this.#agent = undefined;
    this.#onSentinelChange = undefined;
    this.world.log(`agent:${this.name}`, 'agent killed');
  }

  async #drain(
    stillGranted: () => Promise<boolean>,
    sleep: (ms: number) => Promise<void>,
  ): Promise<DrainResult> {
    const rng = this.world.rng;
    const started = this.world.now;
    const rounds = rng.int(1, 4);
    for (let i = 0; i < rounds; i++) {
      if (!(await stillGranted()))
        return {
          outcome: 'revoked',
          remaining: [],
          evicted: i,
          rounds: i + 1,
          elapsedMs: this.world.now - started,
        };
      await sleep(rng.int(200, 8_000));
    }
    if (this.drainBehavior === 'refused') {
      return {
        outcome: 'refused',
        refused: [
          {
            pod: { metadata: { namespace: 'shop', name: 'db-0' } },
            reason: 'Cannot evict pod as it would violate the pod disruption budget.',
          } as never,
        ],
        evicted: rounds,
        rounds,
        elapsedMs: this.world.now - started,
      };
    }
    if (this.drainBehavior === 'timeout') {
      await sleep(this.#s.drainTimeoutMs);
      return {
        outcome: 'timeout',
        remaining: [],
        lastBlockers: ['shop/db-0: the pod disruption budget allows no disruption'],
        evicted: rounds,
        rounds,
        elapsedMs: this.world.now - started,
      };
    }
    return { outcome: 'drained', evicted: rounds, rounds, elapsedMs: this.world.now - started };
  }

  async #rebootCommand(sleep: (ms: number) => Promise<void>): Promise<void> {
    const world = this.world;
    const behavior = this.rebootBehavior;
    await sleep(world.rng.int(5, 500));
    const goesDown =
      behavior === 'normal' ||
      behavior === 'fail-then-down' ||
      (behavior === 'hang' && world.rng.chance(0.5));
    world.log(this.name, `reboot command (${behavior})`);
    if (goesDown) {
      this.reboots.push({ node: this.name, commandAt: world.now, upAt: undefined });
      this.onRebootCommand?.(this, true);
      world.schedule(world.rng.int(500, 20_000), () => this.#goDown());
    } else {
      this.onRebootCommand?.(this, false);
    }
    if (behavior === 'fail' || behavior === 'fail-then-down') {
      throw new Error(
        'reboot command "systemctl reboot" failed (exit code 1): Failed to talk to init daemon',
      );
    }
    if (behavior === 'hang') {
      // The agent's command runner gives up after 60 s (if the process is still alive by then).
      await sleep(60_000);
      throw new Error('reboot command "systemctl reboot" failed (signal SIGKILL): timed out after 60 s');
    }
    if (behavior === 'not-started') {
      throw new RebootNotStartedError('reboot command "systemctl reboot" could not be started (ENOENT)');
    }
  }

  #goDown(): void {
    if (!this.up) return;
    this.up = false;
    this.killAgent();
    this.world.log(this.name, 'machine down');
    // The kubelet stops posting status; the node lifecycle controller marks it NotReady.
    this.world.schedule(this.world.rng.int(0, 5_000), () => {
      if (this.up) return;
      this.server.setNodeStatus(this.name, (n) => setReady(n, false, this.clock.wall()), 'node-lifecycle');
    });
    this.world.schedule(this.world.rng.int(5_000, 90_000), () => this.#boot());
  }

  #boot(): void {
    this.up = true;
    this.bootId = newBootId();
    this.bootedAt = this.world.now;
    this.podsReadyAt = this.world.now + this.podsDelayMs;
    // The pods turning Ready is a moment of its own (the invariants look after every event).
    this.world.schedule(this.podsDelayMs, () => this.onPodsReady?.(this));
    if (!this.stickySentinel) this.sentinel = false;
    const open = this.reboots.at(-1);
    this.world.log(this.name, `machine up, ${this.bootId}`);
    // The kubelet posts the new boot and Ready a moment later (before the agent's pod starts,
    // unless it is slow).
    const kubeletDelay = this.slowKubeletMs > 0 ? this.slowKubeletMs : this.world.rng.int(300, 1_500);
    this.world.schedule(kubeletDelay, () => {
      if (!this.up) return;
      const bootId = this.bootId;
      if (this.server.peek('node', this.name) === undefined) this.register();
      else
        this.server.setNodeStatus(
          this.name,
          (n) => {
            n.status = { ...n.status, nodeInfo: { ...n.status?.nodeInfo, bootID: bootId } as never };
            setReady(n, true, this.clock.wall());
          },
          `kubelet:${this.name}`,
        );
      if (open !== undefined && open.upAt === undefined) open.upAt = this.world.now;
    });
    this.world.schedule(this.world.rng.int(2_000, 10_000), () => this.startAgent());
  }

  /** The agent's phase as the API server has it. */
  phase(): string | undefined {
    return (this.server.peek('node', this.name) as V1Node | undefined)?.metadata?.annotations?.[
      Annotation.Phase
    ];
  }

  reportedCondition(): string | undefined {
    const n = this.server.peek('node', this.name) as V1Node | undefined;
    return n?.status?.conditions?.find((c) => c.type === REBOOT_REQUIRED_CONDITION)?.status;
  }
}

function setReady(n: V1Node, ready: boolean, now: Date): void {
  const conditions = [...(n.status?.conditions ?? [])];
  const i = conditions.findIndex((c) => c.type === 'Ready');
  const status = ready ? 'True' : 'False';
  const before = conditions[i];
  const entry = {
    type: 'Ready',
    status,
    reason: ready ? 'KubeletReady' : 'NodeStatusUnknown',
    lastHeartbeatTime: now,
    lastTransitionTime: before?.status === status ? before.lastTransitionTime : now,
  };
  if (i >= 0) conditions[i] = entry;
  else conditions.push(entry);
  n.status = { ...n.status, conditions };
}
