/**
 * One controller replica in the simulation: the real Reconciler (planner, settle logic, slot
 * writer with its compare-and-swap, gate conditions) and the real LeaderElector with its Lease
 * store, wired as the controller process wires them (a reconcile 50 ms after a relevant change,
 * a tick every period, a wake-up when a settle time ends), over the simulated API server and the
 * replica's own clocks. What is not decision code is faked: metrics, Events and notifications
 * are recorded in the trace; the pods and workloads of a holder come from the simulated machines.
 */
import { LEADER_LEASE } from '@baton/protocol';
import type { Logger } from '@baton/runtime';
import type { V1Lease, V1Node } from '@kubernetes/client-node';
import { LeaderElector } from '../packages/controller/src/leader/leader.ts';
import { kubeLeaderStore } from '../packages/controller/src/leader/leader-store.ts';
import { kubeGateConditionWriter } from '../packages/controller/src/observe/gate-condition-writer.ts';
import type { ControllerMetrics } from '../packages/controller/src/observe/metrics.ts';
import type { PlanSettings } from '../packages/controller/src/plan/plan.ts';
import { NodeChangeFilter, relevantLeaseChange } from '../packages/controller/src/reconcile/node-changes.ts';
import { Reconciler } from '../packages/controller/src/reconcile/reconciler.ts';
import type { SettleFacts } from '../packages/controller/src/settle/settle.ts';
import type { SettleObserver } from '../packages/controller/src/settle/settle-observer.ts';
import { kubeSlotWriter } from '../packages/controller/src/slots/slot-writes.ts';
import type { SimApiServer } from './api-server.ts';
import { ProcessLink, SimInformer, simCoordinationApi } from './net.ts';
import { MachineClock, type TimerHandle, type World } from './world.ts';

export interface ControllerSimSettings {
  readonly plan: PlanSettings;
  readonly grantDurationMs: number;
  readonly abortBackoffMs: number;
  readonly periodMs: number;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  /** Off with a single replica, as the chart sets it for one replica: the replica always acts. */
  readonly leaderElect: boolean;
}

/** What the simulation knows of a holder's pods and workloads (the machines' ground truth). */
export type HolderFacts = (node: string, now: Date) => SettleFacts;

const noop = () => undefined;

/** A logger that writes nothing (the trace records what matters). */
export function silentLogger(): Logger {
  const log = {
    info: noop,
    warn: noop,
    error: noop,
    debug: noop,
    trace: noop,
    fatal: noop,
    child: () => log,
  };
  return log as unknown as Logger;
}

const noMetrics: ControllerMetrics = {
  granted: noop,
  released: noop,
  observe: noop,
  fleet: noop,
};

export class ControllerReplica {
  readonly id: string;
  readonly link: ProcessLink;
  readonly clock: MachineClock;
  readonly #world: World;
  readonly #server: SimApiServer;
  readonly #s: ControllerSimSettings;
  readonly #facts: HolderFacts;
  #timers: TimerHandle[] = [];
  #elector: LeaderElector | undefined;
  /** Extra latency of the workload listing before each grant (a slow pass). */
  listingDelayMs = 0;

  constructor(world: World, server: SimApiServer, id: string, s: ControllerSimSettings, facts: HolderFacts) {
    this.#world = world;
    this.#server = server;
    this.id = id;
    this.#s = s;
    this.#facts = facts;
    this.clock = new MachineClock(world);
    this.link = new ProcessLink(world, server, id);
  }

  isLeader(): boolean {
    return this.link.alive && (this.#elector?.isLeader() ?? !this.#s.leaderElect);
  }

  /** Starts (or restarts) the process. */
  start(): void {
    const world = this.#world;
    const link = this.link;
    const gen = link.generation;
    const alive = () => link.alive && link.generation === gen;
    const timer = (ms: number, fn: () => void) => {
      const h = world.schedule(ms, () =>
        link.onProcess(() => {
          if (alive()) fn();
        }),
      );
      this.#timers.push(h);
      return h;
    };
    const nodes = new SimInformer<V1Node>(link, 'node');
    // The leader Lease is read by the elector itself; no decision of the planner reads it.
    const leases = new SimInformer<V1Lease>(link, 'lease', (o) => o.metadata?.name !== LEADER_LEASE);
    const coordination = simCoordinationApi(link, this.id);
    const now = () => this.clock.wall();
    const sleep = (ms: number) =>
      new Promise<void>((resolve) => {
        timer(ms, resolve);
      });
    const core = {
      patchNodeStatus: ({ name, body }: { name: string; body: { status: { conditions: [] } } }) =>
        link.call(() => this.#server.patchNodeConditions(name, body.status.conditions, this.id)),
    };
    const elector = new LeaderElector({
      identity: this.id,
      store: kubeLeaderStore(
        coordination,
        this.#server.namespace,
        LEADER_LEASE,
        Math.ceil(this.#s.leaseDurationMs / 1000),
      ),
      leaseDurationMs: this.#s.leaseDurationMs,
      renewDeadlineMs: this.#s.renewDeadlineMs,
      retryPeriodMs: this.#s.retryPeriodMs,
      now: () => this.clock.wall().getTime(),
      monotonicMs: () => this.clock.monotonic(),
      onStartedLeading: () => {
        world.log(this.id, 'started leading');
        schedule();
      },
      onStoppedLeading: (why) => world.log(this.id, `stopped leading: ${why}`),
    });
    this.#elector = elector;
    let wake: TimerHandle | undefined;
    const settle: SettleObserver = {
      facts: (holders) => new Map(holders.map((h) => [h, this.#facts(h, now())] as const)),
      watched: () => [],
      stop: async () => undefined,
    };
    const reconciler = new Reconciler(this.#s.plan, {
      nodes: () => nodes.list(),
      leases: () => leases.list(),
      synced: () => nodes.synced() && leases.synced(),
      slots: kubeSlotWriter(
        coordination,
        this.#server.namespace,
        Math.round(this.#s.grantDurationMs / 1000),
        {
          now,
          sleep,
          // Seeded, so a replay writes the very same grant ids.
          newGrantId: () => `g${world.rng.int(0, 0x7fffffff).toString(36)}`,
        },
      ),
      events: {
        record: async (node, _type, reason, message) =>
          world.log(this.id, `event ${reason} on ${node}: ${message}`),
      },
      metrics: noMetrics,
      log: silentLogger(),
      now,
      monotonicMs: () => this.clock.monotonic(),
      abortBackoffMs: this.#s.abortBackoffMs,
      renewAfterMs: this.#s.grantDurationMs / 3,
      mayAct: () => !this.#s.leaderElect || elector.isLeader(),
      gateConditions: kubeGateConditionWriter(core as never),
      settle,
      recordWorkloads: async () => {
        // Listing the node's pods and their owners: a few requests, sometimes slow.
        await link.call(() => undefined);
        if (this.listingDelayMs > 0) await sleep(this.listingDelayMs);
        return '{"workloads":[],"pdbs":[]}';
      },
      readNode: (name) => link.call(() => this.#server.peek('node', name) as V1Node | undefined),
      freshLeases: () => link.call(() => this.#server.all('lease') as V1Lease[]),
      notify: (n) => world.log(this.id, `notify ${n.event} ${n.node}${n.reason ? `: ${n.reason}` : ''}`),
      wakeIn: (ms) => {
        wake?.cancel();
        wake = timer(ms + 100, schedule);
      },
    });
    let debounce: TimerHandle | undefined;
    function schedule(): void {
      debounce?.cancel();
      debounce = timer(50, () => {
        reconciler
          .reconcile()
          .catch((err: unknown) => world.log(link.name, `reconcile failed: ${String(err)}`));
      });
    }
    const nodeChanges = new NodeChangeFilter();
    nodes.onChange((event, node) => {
      if (nodeChanges.relevant(event, node as V1Node | undefined)) schedule();
    });
    leases.onChange((_event, lease) => {
      if (relevantLeaseChange(lease as V1Lease | undefined)) schedule();
    });
    nodes.start();
    leases.start();
    const tickEvery = (ms: number, fn: () => void) => {
      const loop = () => {
        fn();
        timer(ms, loop);
      };
      timer(ms, loop);
    };
    tickEvery(Math.min(this.#s.periodMs, 10_000), schedule);
    const electionLoop = () => {
      void elector.tick().then(() => {
        if (alive()) timer(this.#s.retryPeriodMs, electionLoop);
      });
    };
    if (this.#s.leaderElect) electionLoop();
    else schedule();
    world.log(this.id, 'started');
  }

  /** SIGKILL: everything in flight is lost; nothing is cleaned up. */
  kill(): void {
    for (const t of this.#timers) t.cancel();
    this.#timers = [];
    this.link.kill();
    this.#world.log(this.id, 'killed');
  }

  restart(): void {
    this.link.revive();
    this.start();
  }
}
