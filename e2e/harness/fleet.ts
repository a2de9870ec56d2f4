/**
 * A simulated fleet: for each fake node, a real baton-agent process (with a ServiceAccount token
 * bound to an agent pod on that node), its own sentinel file, and a simulated reboot.
 *
 * The agent's reboot command only touches a marker file; the agent runs it only once the slot
 * Lease acknowledges the reboot (the controller does that, or a test playing it:
 * leases.ts). The fleet notices the marker and reboots the node the way a machine would: the node goes NotReady, the agent dies (SIGKILL), the sentinel
 * is cleared (unless the node is told to keep it), the node gets a new bootID, becomes Ready,
 * and the agent starts again.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppsV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { AGENT_NODE_FLAGS, MALLOC_ENV } from '../../scripts/bundle.ts';
import { freePort } from './cluster.ts';
import {
  mergePatch,
  mintPodToken,
  setBootId,
  setNodeReady,
  strategicMerge,
  waitFor,
  writeTokenKubeconfig,
} from './kube.ts';
import { type ManagedProcess, startProcess, startReaper } from './processes.ts';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const AGENT_MAIN = join(repoRoot, 'packages', 'agent', 'src', 'main.ts');

export interface FleetOptions {
  readonly kc: KubeConfig;
  /** Namespace of the slot Leases and of the agent pods/ServiceAccount. */
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly dir: string;
  /** Extra agent flags for every node. */
  readonly agentArgs?: readonly string[];
  /** Simulated time a reboot takes (NotReady → Ready), default 1 s. */
  readonly rebootMs?: number;
  /** The agent's entry file: the TypeScript source (default) or the image's bundle. */
  readonly agentEntry?: string;
  /** Node.js flags before the entry (the image's, from scripts/bundle.ts, when running the bundle). */
  readonly nodeArgs?: readonly string[];
  /**
   * Label selector of agent pods that already run on the nodes (the Helm chart's DaemonSet).
   * Unset: the fleet creates its own DaemonSet `baton-agent`. Either way each agent process
   * acts with a token bound to the agent pod on its node.
   */
  readonly agentPods?: string;
  /** Lifetime of the agents' tokens (minted at each agent start), default 1 h; a long demo asks more. */
  readonly tokenExpirationSeconds?: number;
  /**
   * How long the agent's reboot command runs before the machine goes down (default 0: at
   * once). While it runs the agent is "mid-reboot": a crash then leaves no reboot behind.
   */
  readonly rebootCommandMs?: number;
  /**
   * Play the kubelet's part kwok leaves out: a pod whose containers are ready (ContainersReady
   * True) on a fleet node that is up is reported Ready. Without it, the pods the node lifecycle
   * controller marked NotReady during an outage (a reboot, an API server restart) stay NotReady
   * for good, and a controller that waits for them never releases the slot. Default false.
   */
  readonly kubeletPodStatus?: boolean;
}

/** One reboot the simulator performed (ground truth for invariant checks). */
export interface FleetReboot {
  readonly node: string;
  /** When the agent's reboot command asked for it (the marker's mtime). */
  readonly at: Date;
  /** When the node was Ready again with its new bootID; undefined while down, or never back. */
  upAt?: Date;
}

export class SimulatedNode {
  readonly name: string;
  readonly dir: string;
  readonly sentinel: string;
  readonly marker: string;
  readonly #fleet: Fleet;
  #agent: ManagedProcess | undefined;
  #port = 0;
  /** Reboots this node went through (the simulator counts them, not the agent). */
  reboots = 0;
  /** When true, the sentinel survives a reboot (a package that never settles). */
  keepSentinel = false;
  /** When true, the node never comes back after a reboot. */
  neverReturn = false;
  /**
   * How long the machine takes to go down after its reboot command (default 0: at once). The
   * agent keeps running meanwhile, as it would while systemd stops the services before it.
   */
  shutdownMs = 0;
  /**
   * When set, the agent's reboot command exits with this code and the machine does not go down
   * (a `systemctl reboot` that fails; 126/127: a command that could not be started). Each run is
   * counted ({@link rebootCommandRuns}). Read when the agent starts.
   */
  failRebootCommand: number | undefined;
  extraArgs: readonly string[] = [];
  /** A simulated reboot or a crash is under way: no other may start. */
  #busy = false;

  get #running(): string {
    return join(this.dir, 'reboot-command-running');
  }

  /** The agent's reboot command runs right now (with `rebootCommandMs`): the agent is mid-reboot. */
  get rebootCommandRunning(): boolean {
    return !this.#busy && this.#agent !== undefined && existsSync(this.#running) && !existsSync(this.marker);
  }

  /** True while a simulated reboot (or an agent crash) is under way. */
  get busy(): boolean {
    return this.#busy;
  }

  /** The DaemonSet pod on this node whose identity the agent process uses. */
  readonly pod: string;

  constructor(fleet: Fleet, name: string, dir: string, pod: string) {
    this.#fleet = fleet;
    this.name = name;
    this.pod = pod;
    this.dir = dir;
    this.sentinel = join(dir, 'host', 'var', 'run', 'reboot-required');
    this.marker = join(dir, 'rebooting');
  }

  get agent(): ManagedProcess | undefined {
    return this.#agent;
  }

  get metricsUrl(): string {
    return `http://127.0.0.1:${this.#port}/metrics`;
  }

  async touchSentinel(): Promise<void> {
    await writeFile(this.sentinel, '');
  }

  async removeSentinel(): Promise<void> {
    await rm(this.sentinel, { force: true });
  }

  async startAgent(): Promise<void> {
    // A simulated reboot still in progress when the fleet stops must not start a new agent.
    if (this.#fleet.stopped) return;
    const o = this.#fleet.options;
    await mkdir(dirname(this.sentinel), { recursive: true });
    const kubeconfig = await this.#fleet.agentKubeconfig(this.name, join(this.dir, 'kubeconfig'));
    this.#port = await freePort();
    if (this.#fleet.stopped) return; // stopped while the token was minted
    const rebootCommand = await this.#rebootCommand();
    // A flag in extraArgs replaces the fleet's default for it.
    const overridden = (arg: string) => this.extraArgs.some((e) => e.split('=')[0] === arg.split('=')[0]);
    this.#agent = startProcess({
      name: `agent-${this.name}`,
      command: process.execPath,
      args: [
        // The image's Node flags when the bundle runs (scripts/bundle.ts), unless told otherwise.
        ...(o.nodeArgs ?? (o.agentEntry !== undefined ? AGENT_NODE_FLAGS : [])),
        o.agentEntry ?? AGENT_MAIN,
        ...[
          `--node-id=${this.name}`,
          `--namespace=${o.namespace}`,
          `--kubeconfig=${kubeconfig}`,
          `--reboot-sentinel=${this.sentinel}`,
          '--host-mount-namespace=false',
          `--reboot-command=${rebootCommand}`,
          '--metrics-host=127.0.0.1',
          `--metrics-port=${this.#port}`,
          '--eviction-retry-backoff=1s',
          ...(o.agentArgs ?? []),
        ].filter((a) => !overridden(a)),
        ...this.extraArgs,
      ],
      // The image's malloc settings when the bundle runs (scripts/bundle.ts).
      ...(o.agentEntry !== undefined ? { env: { ...process.env, ...MALLOC_ENV } } : {}),
      logPath: join(this.dir, `agent.log`),
    });
    await this.#fleet.recordPids();
  }

  get #failures(): string {
    return join(this.dir, 'reboot-command-failures');
  }

  /** How often the failing reboot command ({@link failRebootCommand}) ran. */
  async rebootCommandRuns(): Promise<number> {
    const text = await readFile(this.#failures, 'utf8').catch(() => '');
    return text.split('\n').filter((l) => l !== '').length;
  }

  async #rebootCommand(): Promise<string> {
    if (this.failRebootCommand !== undefined) {
      const script = join(this.dir, 'reboot-fails.sh');
      // The #! line says what it is (scripts/programs.test.ts reads the programs it starts).
      await writeFile(
        script,
        `#!/bin/sh\necho ran >> '${this.#failures}'\necho 'simulated failure' >&2\nexit ${this.failRebootCommand}\n`,
      );
      return `/bin/sh ${script}`;
    }
    const ms = this.#fleet.options.rebootCommandMs ?? 0;
    if (ms <= 0) return `/usr/bin/touch ${this.marker}`;
    const script = join(this.dir, 'reboot.sh');
    // The running file tells a fault injector the command runs now (no API round trip, no lag).
    // The #! line says what it is (scripts/programs.test.ts reads the programs it starts).
    await writeFile(
      script,
      `#!/bin/sh\ntouch '${this.#running}'\nsleep ${ms / 1000}\ntouch '${this.marker}'\nrm -f '${this.#running}'\n`,
    );
    return `/bin/sh ${script}`;
  }

  /**
   * SIGKILLs the agent (a crash, an OOM kill) and starts it again after `downMs`, as the
   * DaemonSet would. Refused (false) while a simulated reboot runs: the reboot itself stops and
   * starts the agent then.
   */
  async crashAgent(downMs = 1000): Promise<boolean> {
    if (this.#busy || this.#fleet.stopped || !this.#agent) return false;
    this.#busy = true;
    try {
      await this.killAgent();
      await rm(this.#running, { force: true }); // the command died with the agent
      await new Promise((r) => setTimeout(r, downMs));
      await this.startAgent();
      return true;
    } finally {
      this.#busy = false;
    }
  }

  async stopAgent(): Promise<void> {
    await this.#agent?.stop(5000);
    this.#agent = undefined;
  }

  /** SIGKILL, as a crash or a power cut would. */
  async killAgent(): Promise<void> {
    const a = this.#agent;
    if (!a) return;
    try {
      process.kill(-a.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await a.exited;
    this.#agent = undefined;
  }

  /** Runs a pending simulated reboot, if the agent asked for one. */
  async simulateRebootIfAsked(): Promise<boolean> {
    if (this.#busy || !existsSync(this.marker)) return false;
    this.#busy = true;
    try {
      return await this.#simulateReboot();
    } finally {
      this.#busy = false;
    }
  }

  async #simulateReboot(): Promise<boolean> {
    const o = this.#fleet.options;
    const at = await stat(this.marker).then(
      (st) => st.mtime,
      () => new Date(),
    );
    await rm(this.marker, { force: true });
    this.reboots++;
    const entry: FleetReboot = { node: this.name, at };
    this.#fleet.rebootLog.push(entry);
    // A machine reboots whether or not the API server answers: each step that writes to it is
    // retried until it goes through (a fault test may have the API server down right now).
    const bootId = randomUUID();
    if (this.shutdownMs > 0) await new Promise((r) => setTimeout(r, this.shutdownMs));
    await this.#retrying(() => setNodeReady(o.kc, this.name, false));
    await this.killAgent();
    if (!this.keepSentinel) await this.removeSentinel();
    if (this.neverReturn) return true;
    await new Promise((r) => setTimeout(r, o.rebootMs ?? 1000));
    await this.#retrying(() => setBootId(o.kc, this.name, bootId));
    await this.#retrying(() => setNodeReady(o.kc, this.name, true));
    entry.upAt = new Date();
    await this.#retrying(() => this.startAgent());
    return true;
  }

  async #retrying(step: () => Promise<void>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await step();
      } catch (err) {
        if (this.#fleet.stopped || attempt >= 600) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }
}

export class Fleet {
  readonly options: FleetOptions;
  readonly nodes = new Map<string, SimulatedNode>();
  /** Every simulated reboot, in the order the simulator performed them. */
  readonly rebootLog: FleetReboot[] = [];
  #loop: NodeJS.Timeout | undefined;
  #busy = false;
  #reaper: number | undefined;
  #daemonSet = false;

  constructor(options: FleetOptions) {
    this.options = options;
  }

  /**
   * Makes the nodes part of the fleet: labels them, lets a real DaemonSet put an agent pod on
   * each (so the drain leaves it alone, as it would in a cluster, and its token is bound to it),
   * and starts the agents.
   */
  async add(names: readonly string[]): Promise<SimulatedNode[]> {
    const o = this.options;
    await mkdir(o.dir, { recursive: true });
    this.#reaper ??= startReaper(process.pid, join(o.dir, 'pids'));
    const core = o.kc.makeApiClient(CoreV1Api);
    const fleetLabel = 'baton.dev/e2e-fleet';
    for (const name of names) {
      await core.patchNode(
        { name, body: { metadata: { labels: { [fleetLabel]: o.namespace } } } },
        mergePatch,
      );
    }
    if (!this.#daemonSet && o.agentPods === undefined) {
      await o.kc.makeApiClient(AppsV1Api).createNamespacedDaemonSet({
        namespace: o.namespace,
        body: {
          metadata: { name: 'baton-agent' },
          spec: {
            selector: { matchLabels: { app: 'baton-agent' } },
            template: {
              metadata: { labels: { app: 'baton-agent' } },
              spec: {
                serviceAccountName: o.serviceAccount,
                nodeSelector: { [fleetLabel]: o.namespace },
                tolerations: [{ operator: 'Exists' }],
                containers: [{ name: 'agent', image: 'registry.invalid/baton-agent:e2e' }],
              },
            },
          },
        },
      });
      this.#daemonSet = true;
    }
    const added: SimulatedNode[] = [];
    for (const name of names) {
      const pod = await waitFor(`the agent pod on ${name}`, async () => {
        const pods = await core.listNamespacedPod({
          namespace: o.namespace,
          labelSelector: o.agentPods ?? 'app=baton-agent',
          fieldSelector: `spec.nodeName=${name}`,
        });
        return pods.items.find((p) => p.status?.phase === 'Running')?.metadata?.name;
      });
      const node = new SimulatedNode(this, name, join(o.dir, name), pod);
      await mkdir(node.dir, { recursive: true });
      this.nodes.set(name, node);
      await node.startAgent();
      added.push(node);
    }
    this.#loop ??= setInterval(() => void this.#tick(), 200);
    if (o.kubeletPodStatus) this.#kubelet ??= setInterval(() => void this.#podStatusTick(), 2000);
    return added;
  }

  #kubelet: NodeJS.Timeout | undefined;
  #kubeletBusy = false;

  async #podStatusTick(): Promise<void> {
    if (this.#kubeletBusy || this.stopped) return;
    this.#kubeletBusy = true;
    try {
      const core = this.options.kc.makeApiClient(CoreV1Api);
      const pods = await core.listPodForAllNamespaces({});
      for (const pod of pods.items) {
        const node = this.nodes.get(pod.spec?.nodeName ?? '');
        if (!node || node.busy || pod.metadata?.deletionTimestamp || pod.status?.phase !== 'Running')
          continue;
        const cond = (t: string) => pod.status?.conditions?.find((c) => c.type === t)?.status;
        if (cond('Ready') !== 'False' || cond('ContainersReady') !== 'True') continue;
        await core.patchNamespacedPodStatus(
          {
            name: pod.metadata?.name ?? '',
            namespace: pod.metadata?.namespace ?? '',
            body: {
              status: { conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: new Date() }] },
            },
          },
          strategicMerge,
        );
      }
    } catch {
      // The API server may be down (a fault test): the next pass tries again.
    } finally {
      this.#kubeletBusy = false;
    }
  }

  async #tick(): Promise<void> {
    if (this.#busy || this.stopped) return;
    this.#busy = true;
    try {
      await Promise.all([...this.nodes.values()].map((n) => n.simulateRebootIfAsked()));
    } catch (err) {
      // Reported, not thrown: a failed simulated reboot shows up as the test's own timeout.
      process.stderr.write(`fleet: a simulated reboot failed: ${String(err)}\n`);
    } finally {
      this.#busy = false;
    }
  }

  /** A kubeconfig with a token bound to this node's agent pod. */
  async agentKubeconfig(node: string, path: string): Promise<string> {
    const pod = this.nodes.get(node)?.pod;
    if (pod === undefined) throw new Error(`${node} is not part of the fleet`);
    const { token } = await mintPodToken(this.options.kc, {
      namespace: this.options.namespace,
      serviceAccount: this.options.serviceAccount,
      pod,
      expirationSeconds: this.options.tokenExpirationSeconds,
    });
    return writeTokenKubeconfig(this.options.kc, token, path, `agent-${node}`);
  }

  async recordPids(): Promise<void> {
    const pids = [...this.nodes.values()].flatMap((n) => (n.agent ? [n.agent.pid] : []));
    await writeFile(join(this.options.dir, 'pids'), `${pids.join('\n')}\n`);
  }

  /** Set by stop(): no agent starts after it. */
  stopped = false;

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.#kubelet);
    clearInterval(this.#loop);
    this.#loop = undefined;
    while (this.#busy) await new Promise((r) => setTimeout(r, 50));
    await Promise.all([...this.nodes.values()].map((n) => n.stopAgent()));
    if (this.#reaper !== undefined) {
      try {
        process.kill(this.#reaper, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
}
