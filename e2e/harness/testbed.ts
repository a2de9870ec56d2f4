/**
 * One controller test's world, set up and torn down in one place: a namespace of its own, the
 * chart's agent and controller RBAC for its ServiceAccounts, fresh fake nodes with a real agent
 * each (fleet.ts), a watch recording every slot Lease change (slot-recorder.ts), and real
 * controller processes started with fast settings. `stop()` undoes all of it.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { grantNaming, REBOOT_GATE_CONDITION } from '@baton/protocol';
import {
  CoordinationV1Api,
  CoreV1Api,
  type KubeConfig,
  type V1Lease,
  type V1NodeCondition,
} from '@kubernetes/client-node';
import { startController } from './controller.ts';
import { Fleet, type SimulatedNode } from './fleet.ts';
import { createFakeNodes, waitForNodesReady } from './kube.ts';
import { createTestNamespace, deleteTestNamespace } from './namespace.ts';
import { type ManagedProcess, waitUntilHealthy } from './processes.ts';
import { grantAgentRbac, grantControllerRbac } from './rbac.ts';
import { SlotRecorder } from './slot-recorder.ts';

/** Fast defaults for a test controller; a test's own flags come after them and win. */
export const FAST_CONTROLLER_ARGS: readonly string[] = [
  '--leader-elect=false',
  '--concurrency=1',
  '--period=1s',
  '--grant-duration=60s',
  '--settle-time=1s',
];

export interface StartedController {
  readonly process: ManagedProcess;
  readonly metricsUrl: string;
  /** The controller's log so far. */
  log(): Promise<string>;
  stop(): Promise<void>;
}

export interface Testbed {
  readonly kc: KubeConfig;
  readonly core: CoreV1Api;
  readonly leases: CoordinationV1Api;
  readonly ns: string;
  readonly dir: string;
  readonly fleet: Fleet;
  readonly nodes: readonly SimulatedNode[];
  readonly recorder: SlotRecorder;
  /** Starts a controller with `args` over {@link FAST_CONTROLLER_ARGS}, and waits until it is ready. */
  startController(args?: readonly string[]): Promise<StartedController>;
  /** The slot carrying a grant (holder and grant id) for `node` now, if any. */
  slotOf(node: string): Promise<string | undefined>;
  /** The controller's RebootGate condition on `node`. */
  rebootGate(node: string): Promise<V1NodeCondition | undefined>;
  slotLeases(): Promise<V1Lease[]>;
  stop(): Promise<void>;
}

export async function controllerTestbed(
  kc: KubeConfig,
  o: {
    /** Short name for the namespace, the node names and the temp directory. */
    readonly name: string;
    readonly nodes: number;
    readonly agentArgs?: readonly string[];
    /** Chart values of the agent's configuration its node policy is rendered with (taints, labels). */
    readonly agentConfig?: Readonly<Record<string, unknown>>;
    readonly rebootMs?: number;
  },
): Promise<Testbed> {
  const core = kc.makeApiClient(CoreV1Api);
  const leases = kc.makeApiClient(CoordinationV1Api);
  const ns = await createTestNamespace(kc, o.name);
  const dir = await mkdtemp(join(tmpdir(), `baton-${o.name}-e2e-`));
  const cleanups: (() => Promise<void>)[] = [];
  const controllers: StartedController[] = [];
  const names = await createFakeNodes(kc, {
    prefix: `${o.name}-${randomBytes(2).toString('hex')}`,
    count: o.nodes,
  });
  let fleet: Fleet | undefined;
  let recorder: SlotRecorder | undefined;
  const stop = async () => {
    recorder?.stop();
    for (const c of controllers) await c.stop();
    await fleet?.stop();
    for (const c of cleanups) await c();
    await deleteTestNamespace(kc, ns);
    for (const name of names) await core.deleteNode({ name }).catch(() => undefined);
    if (process.env.E2E_KEEP_LOGS) process.stderr.write(`logs kept in ${dir}\n`);
    else await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitForNodesReady(kc, names);
    cleanups.push(
      await grantAgentRbac(
        kc,
        ns,
        'baton-agent',
        o.agentConfig === undefined ? undefined : { agent: { config: o.agentConfig } },
      ),
    );
    cleanups.push(await grantControllerRbac(kc, ns, 'baton-controller'));
    fleet = new Fleet({
      kc,
      namespace: ns,
      serviceAccount: 'baton-agent',
      dir,
      agentArgs: o.agentArgs,
      rebootMs: o.rebootMs ?? 500,
    });
    const nodes = await fleet.add(names);
    const fleetNames = new Set(names);
    recorder = new SlotRecorder(kc, ns, (h) => fleetNames.has(h));
    await recorder.start();
    const f = fleet;
    const r = recorder;
    return {
      kc,
      core,
      leases,
      ns,
      dir,
      fleet: f,
      nodes,
      recorder: r,
      async startController(args = []) {
        const d = join(dir, `controller-${controllers.length}`);
        await mkdir(d, { recursive: true });
        // A flag in `args` replaces the default of the same name (a flag given twice is refused).
        const name = (a: string) => a.split('=')[0];
        const defaults = FAST_CONTROLLER_ARGS.filter((d) => !args.some((a) => name(a) === name(d)));
        const started = await startController(kc, {
          namespace: ns,
          serviceAccount: 'baton-controller',
          dir: d,
          args: [...defaults, ...args],
        });
        const c: StartedController = {
          process: started.process,
          metricsUrl: started.metricsUrl,
          log: () => readFile(started.process.logPath, 'utf8'),
          stop: () => started.process.stop(),
        };
        controllers.push(c);
        // Fails at once, with the log's tail, if it exits (a refused flag) instead of timing out.
        await waitUntilHealthy(
          started.process,
          async () =>
            (await fetch(started.metricsUrl.replace('/metrics', '/readyz')).catch(() => undefined))?.ok ===
            true,
          60_000,
        );
        return c;
      },
      async slotOf(node) {
        return grantNaming(node, (await leases.listNamespacedLease({ namespace: ns })).items)?.slot;
      },
      async rebootGate(node) {
        return (await core.readNode({ name: node })).status?.conditions?.find(
          (c) => c.type === REBOOT_GATE_CONDITION,
        );
      },
      async slotLeases() {
        return (await leases.listNamespacedLease({ namespace: ns })).items.filter((l) =>
          l.metadata?.name?.startsWith('baton-slot-'),
        );
      },
      stop,
    };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}
