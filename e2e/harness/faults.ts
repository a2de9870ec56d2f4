/**
 * Faults injected into a running rollout: the controller leader SIGKILLed (its replica comes
 * back, as a Deployment would bring it back), an agent SIGKILLed mid-drain or mid-reboot (the
 * DaemonSet brings it back), kube-apiserver restarted, etcd paused. Each injection is counted
 * and logged so a test or the soak can report what it did.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentPhase, Annotation, LEADER_LEASE } from '@baton/protocol';
import { CoordinationV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { ClusterControl } from './cluster.ts';
import { startController } from './controller.ts';
import type { Fleet } from './fleet.ts';
import type { NodeLike } from './invariants.ts';
import { type ManagedProcess, startReaper } from './processes.ts';

export const FAULT_KINDS = [
  'controller-leader-kill',
  'agent-kill-mid-drain',
  'agent-kill-mid-reboot',
  'apiserver-restart',
  'etcd-pause',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Retries `f` while the control plane is unavailable (a fault of our own may be under way). */
async function retrying<T>(what: string, f: () => Promise<T>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await f();
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${what}: ${String(err)}`);
      await sleep(500);
    }
  }
}

/** Controller replicas with leader election, each with its own identity, directory and log. */
export class ControllerReplicas {
  readonly #kc: KubeConfig;
  readonly #o: { namespace: string; serviceAccount: string; dir: string; args: readonly string[] };
  readonly replicas = new Map<string, ManagedProcess>();
  #reaper: number | undefined;

  constructor(
    kc: KubeConfig,
    o: { namespace: string; serviceAccount: string; dir: string; args: readonly string[] },
  ) {
    this.#kc = kc;
    this.#o = o;
  }

  async start(identity: string): Promise<void> {
    const dir = join(this.#o.dir, identity);
    await mkdir(dir, { recursive: true });
    const { process } = await retrying(`start controller ${identity}`, () =>
      startController(this.#kc, {
        namespace: this.#o.namespace,
        serviceAccount: this.#o.serviceAccount,
        dir,
        args: [`--identity=${identity}`, ...this.#o.args],
      }),
    );
    this.replicas.set(identity, process);
    // Killed with the test process if it dies before stop().
    const pidsFile = join(this.#o.dir, 'pids');
    await writeFile(pidsFile, `${[...this.replicas.values()].map((p) => p.pid).join('\n')}\n`);
    this.#reaper ??= startReaper(globalThis.process.pid, pidsFile);
  }

  /** The identity on the leader Lease, if it is one of ours. */
  async leader(): Promise<string | undefined> {
    const api = this.#kc.makeApiClient(CoordinationV1Api);
    const l = await api.readNamespacedLease({ name: LEADER_LEASE, namespace: this.#o.namespace });
    const h = l.spec?.holderIdentity;
    return h !== undefined && this.replicas.has(h) ? h : undefined;
  }

  /** SIGKILLs a replica's process group. */
  async kill(identity: string): Promise<void> {
    const p = this.replicas.get(identity);
    if (!p) return;
    try {
      process.kill(-p.pid, 'SIGKILL');
    } catch {
      // gone
    }
    await p.exited;
  }

  /** Replicas that exited on their own (a crash nobody injected). */
  crashed(): string[] {
    return [...this.replicas].filter(([, p]) => p.hasExited()).map(([id]) => id);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.replicas.values()].map((p) => p.stop()));
    if (this.#reaper !== undefined) {
      try {
        globalThis.process.kill(this.#reaper, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
}

export interface FaultRecord {
  readonly kind: FaultKind;
  readonly at: string;
  readonly detail: string;
}

export interface FaultDeps {
  readonly control: ClusterControl;
  readonly fleet: Fleet;
  readonly controllers: ControllerReplicas;
  /** The Nodes as the invariant recorder last saw them (no API call: works during faults). */
  readonly nodes: () => readonly NodeLike[];
  readonly log?: (line: string) => void;
  /** How long a SIGKILLed leader's replica stays down before it is started again. */
  readonly controllerDownMs?: number;
  /** How long a crashed agent stays down. */
  readonly agentDownMs?: number;
}

export class FaultInjector {
  readonly #d: FaultDeps;
  readonly counts: Record<FaultKind, number> = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<
    FaultKind,
    number
  >;
  readonly history: FaultRecord[] = [];
  /** Identities SIGKILLed on purpose (so `crashed()` minus these is a real crash). */
  readonly killed = new Set<string>();

  constructor(d: FaultDeps) {
    this.#d = d;
  }

  #record(kind: FaultKind, detail: string): void {
    this.counts[kind]++;
    this.history.push({ kind, at: new Date().toISOString(), detail });
    this.#d.log?.(`fault ${kind}: ${detail}`);
  }

  /** SIGKILLs the leader, and starts its replica again after a while. False when no leader is known. */
  async killLeader(): Promise<boolean> {
    const c = this.#d.controllers;
    const leader = await c.leader().catch(() => undefined);
    if (leader === undefined) return false;
    await c.kill(leader);
    this.killed.add(leader);
    this.#record('controller-leader-kill', leader);
    await sleep(this.#d.controllerDownMs ?? 2000);
    await c.start(leader);
    return true;
  }

  /** Nodes whose agent phase is `phase` now, per the recorder. */
  nodesIn(phase: string): string[] {
    return this.#d
      .nodes()
      .filter((n) => n.metadata?.annotations?.[Annotation.Phase] === phase)
      .map((n) => n.metadata?.name ?? '');
  }

  /**
   * SIGKILLs an agent mid-drain (its node's phase is Draining, per the recorder) or mid-reboot
   * (its reboot command runs right now, per the fleet); false when no agent is there now.
   */
  async killAgentIn(
    phase: typeof AgentPhase.Draining | typeof AgentPhase.Rebooting,
    pick = 0,
  ): Promise<boolean> {
    const candidates =
      phase === AgentPhase.Draining
        ? this.nodesIn(phase)
        : [...this.#d.fleet.nodes.values()].filter((n) => n.rebootCommandRunning).map((n) => n.name);
    const name = candidates[pick % Math.max(1, candidates.length)];
    const node = name === undefined ? undefined : this.#d.fleet.nodes.get(name);
    if (!node) return false;
    const kind: FaultKind = phase === AgentPhase.Draining ? 'agent-kill-mid-drain' : 'agent-kill-mid-reboot';
    // crashAgent refuses while a simulated reboot runs: then nothing was injected.
    const done = await node.crashAgent(this.#d.agentDownMs ?? 1000);
    if (done) this.#record(kind, name ?? '');
    return done;
  }

  async restartApiserver(): Promise<void> {
    const t0 = Date.now();
    await this.#d.control.restartApiserver();
    this.#record('apiserver-restart', `ready again after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }

  async pauseEtcd(ms: number): Promise<void> {
    await this.#d.control.pauseEtcd(ms);
    this.#record('etcd-pause', `${ms} ms`);
  }
}
