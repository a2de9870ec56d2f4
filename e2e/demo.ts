/**
 * `./run demo`: baton rolling reboots over a real local control plane, live in the terminal.
 *
 * It starts the control plane of the e2e harness (building its binaries once), creates
 * DEMO_NODES fake nodes (KWOK plays their kubelets), installs the Helm chart charts/baton with
 * the pinned helm, and runs the controller and one agent per node as processes on this machine
 * with the chart's own ServiceAccounts — each agent's token bound to the chart's DaemonSet pod on
 * its node — because no container runtime runs the images here. Reboots are simulated (see
 * harness/fleet.ts). Every node's sentinel is touched; the table shows the slots moving. Then it
 * prints the commands to try, and keeps everything running until Ctrl-C or SIGTERM, which stop
 * every process it started and remove the cluster's directory.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppsV1Api, CoordinationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { chartPath, helm, withValuesFile } from '../scripts/chart.ts';
import {
  buildFrame,
  changeLines,
  type Frame,
  redraw,
  renderTable,
  rolloutDone,
  screenRows,
} from './demo-view.ts';
import { type Cluster, startCluster } from './harness/cluster.ts';
import { startController } from './harness/controller.ts';
import { Fleet } from './harness/fleet.ts';
import { createFakeNodes, loadKubeConfig, waitFor, waitForNodesReady } from './harness/kube.ts';
import { type ManagedProcess, startReaper } from './harness/processes.ts';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Namespace and release of the chart: objects are baton-controller, baton-agent; Leases in baton. */
const NAMESPACE = 'baton';
const RELEASE = 'baton';
const CONCURRENCY = 1;
/**
 * The controller's flags, through the chart's controller.config: a full resync every second, the
 * shortest grant the controller accepts, and a short settle so the rollout takes well under a
 * minute per node instead of the production pace.
 */
const CONTROLLER_CONFIG = { concurrency: CONCURRENCY, period: '1s', grantDuration: '30s', settleTime: '2s' };
/** Tokens the processes get; the API server allows up to 48 h, so a demo left running keeps working. */
const TOKEN_SECONDS = 48 * 3600;
const REFRESH_MS = 500;

const nodeCount = Number(process.env.DEMO_NODES ?? '4');
if (!Number.isInteger(nodeCount) || nodeCount < 1 || nodeCount > 50) {
  process.stderr.write(`DEMO_NODES must be an integer from 1 to 50, got "${process.env.DEMO_NODES}"\n`);
  process.exit(2);
}
// DEMO_CLUSTER_NAME lets the demo's own test run beside a demo a person has running.
const clusterName = process.env.DEMO_CLUSTER_NAME ?? 'demo';
const tty = process.stdout.isTTY === true;
const say = (line: string) => process.stderr.write(`[demo] ${line}\n`);

/** Thrown by a start-up step that sees a stop was asked for meanwhile. */
class Stopping extends Error {}

let stopping = false;
let cluster: Cluster | undefined;
let controller: ManagedProcess | undefined;
let controllerReaper: number | undefined;
let fleet: Fleet | undefined;
let monitor: Promise<void> | undefined;

const step = <T>(value: T): T => {
  if (stopping) throw new Stopping('stopping');
  return value;
};

async function start(): Promise<void> {
  // Assigned before the check: a cluster started while a stop was asked for is stopped too.
  cluster = await startCluster({ name: clusterName });
  step(undefined);
  const { kubeconfigPath } = cluster;
  const kc = loadKubeConfig(kubeconfigPath);
  const core = kc.makeApiClient(CoreV1Api);
  const nodes = step(await createFakeNodes(kc, { prefix: 'demo-node', count: nodeCount }));
  step(await waitForNodesReady(kc, nodes));
  say(`${nodeCount} fake nodes Ready; helm install ${RELEASE} charts/baton --namespace ${NAMESPACE}`);

  const installed = step(
    await withValuesFile({ controller: { config: CONTROLLER_CONFIG } }, (args) =>
      helm([
        'install',
        RELEASE,
        chartPath,
        '--namespace',
        NAMESPACE,
        '--create-namespace',
        '--kubeconfig',
        kubeconfigPath,
        ...args,
      ]),
    ),
  );
  if (!installed.ok) throw new Error(`helm install failed: ${installed.stderr}`);

  // The controller process acts as the chart's controller: its ServiceAccount, its flags (those
  // of the Deployment, CONTROLLER_CONFIG included), the identity of one of its pods. The token is
  // not bound to that pod: the pod is evicted when its node is drained, and the token would die.
  const controllerSa = `${RELEASE}-controller`;
  const deployment = await kc
    .makeApiClient(AppsV1Api)
    .readNamespacedDeployment({ name: controllerSa, namespace: NAMESPACE });
  const chartArgs = (deployment.spec?.template.spec?.containers[0]?.args ?? []).filter(
    (a) => !a.startsWith('--metrics-'),
  );
  const controllerPod = step(
    await waitFor('a controller pod of the chart', async () => {
      const pods = await core.listNamespacedPod({
        namespace: NAMESPACE,
        labelSelector: `app.kubernetes.io/instance=${RELEASE},app.kubernetes.io/component=controller`,
      });
      return pods.items[0]?.metadata?.name;
    }),
  );
  const dir = join(cluster.dir, 'baton');
  await mkdir(dir, { recursive: true });
  // A reaper of its own: if this process dies without cleaning up, the controller goes too.
  const pidFile = join(dir, 'controller.pid');
  controllerReaper = startReaper(process.pid, pidFile);
  controller = (
    await startController(kc, {
      namespace: NAMESPACE,
      serviceAccount: controllerSa,
      dir,
      replaceArgs: chartArgs,
      env: { POD_NAMESPACE: NAMESPACE, POD_NAME: controllerPod },
      tokenExpirationSeconds: TOKEN_SECONDS,
    })
  ).process;
  await writeFile(pidFile, `${controller.pid}\n`);
  step(undefined);
  say(`controller started with the chart's flags: ${chartArgs.join(' ')}`);

  fleet = new Fleet({
    kc,
    namespace: NAMESPACE,
    serviceAccount: `${RELEASE}-agent`,
    dir,
    agentPods: `app.kubernetes.io/instance=${RELEASE},app.kubernetes.io/component=agent`,
    tokenExpirationSeconds: TOKEN_SECONDS,
  });
  const simulated = step(await fleet.add(nodes));
  say(`${simulated.length} agents started, each with a token bound to its node's DaemonSet pod`);
  for (const n of simulated) await n.touchSentinel();
  say(`touched every node's sentinel (${simulated[0]?.sentinel ?? ''} and the like)`);

  const first = simulated[0];
  const footer = [
    '',
    'Try it, in another terminal:',
    '',
    `  export KUBECONFIG=${kubeconfigPath}`,
    `  kubectl get leases -n ${NAMESPACE}   # the slot Leases: who may reboot now`,
    `  export PATH=${join(repoRoot, 'packages', 'cli', 'bin')}:$PATH   # the kubectl-baton plugin`,
    '  kubectl baton status          # slots, pause, and every node: needs a reboot? phase, slot, why',
    '  kubectl baton pause           # no new grants until `kubectl baton resume`',
    `  # ${first?.name ?? ''} needs a reboot again (its sentinel file); watch the table:`,
    `  touch ${first?.sentinel ?? ''}`,
    '',
    `Logs: ${join(cluster.dir, 'logs')}/ (control plane), ${dir}/controller.log, ${dir}/<node>/agent.log`,
    'Press Ctrl-C to stop everything and clean up.',
  ];
  monitor = watch({
    listNodes: async () =>
      (await core.listNode()).items.filter((n) => nodes.includes(n.metadata?.name ?? '')),
    listLeases: async () =>
      (await kc.makeApiClient(CoordinationV1Api).listNamespacedLease({ namespace: NAMESPACE })).items,
    reboots: () => new Map([...(fleet?.nodes.values() ?? [])].map((n) => [n.name, n.reboots])),
    footer,
  });
}

/** Lists, builds a frame and shows it every REFRESH_MS until the demo stops. */
async function watch(source: {
  listNodes: () => Promise<Parameters<typeof buildFrame>[0]['nodes']>;
  listLeases: () => Promise<Parameters<typeof buildFrame>[0]['leases']>;
  reboots: () => ReadonlyMap<string, number>;
  footer: readonly string[];
}): Promise<void> {
  const t0 = Date.now();
  let prev: Frame | undefined;
  let frameNo = 0;
  let drawnRows = 0;
  let drawn = '';
  let done = false;
  let lastError = '';
  while (!stopping) {
    try {
      const [nodes, leases] = await Promise.all([source.listNodes(), source.listLeases()]);
      const frame = buildFrame({
        nodes,
        leases,
        reboots: source.reboots(),
        concurrency: CONCURRENCY,
      });
      // The commands appear once the first rollout is done and stay.
      const firstDone: boolean = !done && rolloutDone(frame);
      done ||= firstDone;
      if (stopping) break;
      if (tty) {
        const lines = [...renderTable(frame), ...(done ? source.footer : [])];
        const text = lines.join('\n');
        if (text !== drawn) {
          process.stdout.write(redraw(drawnRows, lines));
          drawn = text;
          drawnRows = screenRows(lines, process.stdout.columns ?? 80);
        }
      } else {
        const lines = changeLines(prev, frame, frameNo + 1, Date.now() - t0);
        if (lines.length > 0) {
          frameNo++;
          process.stdout.write(`${lines.join('\n')}\n`);
        }
        if (firstDone) process.stdout.write(`${source.footer.join('\n')}\n`);
      }
      prev = frame;
      lastError = '';
    } catch (err) {
      const message = (err as Error).message;
      if (message !== lastError && !stopping) say(`could not read the cluster: ${message}`);
      lastError = message;
    }
    await new Promise((r) => setTimeout(r, REFRESH_MS));
  }
}

/**
 * Stops everything this process started, each part even if another failed: the table, the
 * agents (and their reaper), the controller (and its reaper), the control plane and its
 * directory. A second signal while stopping only says so: nothing is left half-stopped.
 */
async function stop(code: number, started: Promise<void>): Promise<never> {
  stopping = true;
  process.stdout.write('\nStopping: agents, controller, control plane...\n');
  await started.catch(() => undefined);
  await monitor;
  const attempt = async (what: string, run: () => Promise<unknown>) => {
    try {
      await run();
    } catch (err) {
      process.stderr.write(`stopping ${what} failed: ${(err as Error).message}\n`);
      code = code || 1;
    }
  };
  await attempt('the agents', async () => fleet?.stop());
  await attempt('the controller', async () => controller?.stop());
  if (controllerReaper !== undefined) {
    try {
      process.kill(controllerReaper, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  await attempt('the control plane', async () => cluster?.stop());
  process.stdout.write('Stopped; nothing left running.\n');
  process.exit(code);
}

const started = start();
let stopped: Promise<never> | undefined;
const onSignal = (signal: NodeJS.Signals) => {
  if (stopped !== undefined) {
    process.stdout.write(`(${signal} again: still stopping, a moment)\n`);
    return;
  }
  stopped = stop(0, started);
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

started.catch((err: unknown) => {
  if (err instanceof Stopping) return;
  process.stderr.write(`demo failed: ${(err as Error).message}\n`);
  stopped ??= stop(1, started);
});
// The event loop stays alive through the table's timer; this keeps it alive in every case
// (a failed start-up waits here for stop()).
setInterval(() => {}, 1 << 30);
