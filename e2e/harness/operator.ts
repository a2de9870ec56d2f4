/**
 * What a person runs during a rollout, as a person runs it: the `kubectl baton` executable
 * (packages/cli/bin/kubectl-baton) and the real kubectl of e2e/tools, each a child process with
 * the admin kubeconfig. The environment is built here, not inherited: a test that skews the
 * clocks of the processes it starts (BATON_TEST_CLOCK_OFFSET_MS) does not skew the person's.
 *
 * And what such a person checks on a testbed (testbed.ts) during a rollout: the invariant
 * recorder (invariant-recorder.ts) on its fleet, judged by the fleet's ground truth (never more
 * machines down than allowed), a rollout that is done, a node that is not granted, its Events.
 */
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AgentPhase, Annotation, type GateReason, REBOOT_REQUIRED_CONDITION } from '@baton/protocol';
import type { CoreV1Api, CoreV1Event, V1Node } from '@kubernetes/client-node';
import type { FleetReboot, SimulatedNode } from './fleet.ts';
import { InvariantRecorder } from './invariant-recorder.ts';
import { waitFor } from './kube.ts';
import type { Testbed } from './testbed.ts';
import { ensureTools } from './tools.ts';

const KUBECTL_BATON = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'packages',
  'cli',
  'bin',
  'kubectl-baton',
);

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The person's environment: the Node running the tests (24) first on PATH, for kubectl-baton's launcher. */
const personEnv = () => ({ PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`, HOME: tmpdir() });

function done(resolve: (r: CommandResult) => void) {
  return (err: { code?: unknown } | null, stdout: string, stderr: string) => {
    const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
    resolve({ code, stdout, stderr });
  };
}

/** `kubectl baton <args> -n <namespace>` as the cluster admin. */
export function kubectlBaton(
  kubeconfig: string,
  namespace: string,
  ...args: string[]
): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(
      KUBECTL_BATON,
      [...args, `--kubeconfig=${kubeconfig}`, '-n', namespace],
      { env: personEnv(), timeout: 120_000 },
      done(resolve),
    );
  });
}

/** The real `kubectl <args>` as the cluster admin. */
export async function kubectl(kubeconfig: string, ...args: string[]): Promise<CommandResult> {
  const { kubectl } = await ensureTools();
  return new Promise((resolve) => {
    execFile(
      kubectl,
      [`--kubeconfig=${kubeconfig}`, ...args],
      { env: personEnv(), timeout: 120_000 },
      done(resolve),
    );
  });
}

/**
 * Starts an invariant recorder on the testbed's slot Leases and fleet Nodes, with the fleet's
 * log of reboots as ground truth. Stop it before the testbed.
 */
export async function watchInvariants(bed: Testbed, concurrency: number): Promise<InvariantRecorder> {
  const recorder = new InvariantRecorder({
    kc: bed.kc,
    namespace: bed.ns,
    concurrency,
    nodeSelector: `baton.dev/e2e-fleet=${bed.ns}`,
    reboots: () => bed.fleet.rebootLog,
  });
  await recorder.start();
  return recorder;
}

export const phaseOf = (n: V1Node): string | undefined => n.metadata?.annotations?.[Annotation.Phase];
export const rebootRequired = (n: V1Node) =>
  n.status?.conditions?.find((c) => c.type === REBOOT_REQUIRED_CONDITION);

/** Every given node reports Rebooted and needs nothing, and no slot names a node. */
export async function rolloutDone(
  bed: Testbed,
  nodes: readonly SimulatedNode[],
  timeoutMs = 180_000,
): Promise<void> {
  await waitFor(
    `${nodes.map((n) => n.name).join(', ')} rebooted and every slot released`,
    async () => {
      for (const { name } of nodes) {
        const n = await bed.core.readNode({ name });
        if (phaseOf(n) !== AgentPhase.Rebooted || rebootRequired(n)?.status !== 'False') return false;
      }
      return bed.recorder.holders().length === 0;
    },
    timeoutMs,
  );
}

/** No slot names any of `nodes` during `ms` (sampled every 300 ms). */
export async function neverGranted(bed: Testbed, nodes: readonly SimulatedNode[], ms: number): Promise<void> {
  const until = Date.now() + ms;
  do {
    for (const n of nodes) {
      const slot = await bed.slotOf(n.name);
      if (slot !== undefined) throw new Error(`${n.name} was granted ${slot}, and must not be`);
    }
    await new Promise((r) => setTimeout(r, 300));
  } while (Date.now() < until);
}

/**
 * Waits until the controller's RebootGate on `node` gives `reason`; fails at once (not at the
 * timeout) if the node is granted meanwhile.
 */
export async function heldBack(
  bed: Testbed,
  node: SimulatedNode,
  reason: GateReason,
  timeoutMs = 60_000,
): Promise<void> {
  const seen = await waitFor(
    `${node.name} held back (${reason}), or granted`,
    async () => {
      const slot = await bed.slotOf(node.name);
      if (slot !== undefined) return `granted ${slot}`;
      return (await bed.rebootGate(node.name))?.reason === reason ? reason : undefined;
    },
    timeoutMs,
  );
  if (seen !== reason) throw new Error(`${node.name} must be held back (${reason}), and was ${seen}`);
}

/** The Events regarding a node, in order of creation (each writer's are in order). */
export async function nodeEvents(core: CoreV1Api, node: string): Promise<CoreV1Event[]> {
  return (
    await core.listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.name=${node}` })
  ).items.sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
}

/** The fleet's record of `node`'s reboots (ground truth), in order. */
export const rebootsOf = (bed: Testbed, node: SimulatedNode): FleetReboot[] =>
  bed.fleet.rebootLog.filter((r) => r.node === node.name);

/**
 * When each grant of `node` was made: its acquireTime, written by the controller, whose clock is
 * this machine's (as the slot recorder's watch delivered it, with microseconds).
 */
export const grantTimes = (bed: Testbed, node: SimulatedNode): number[] =>
  bed.recorder.grants.filter((g) => g.node === node.name).map((g) => new Date(g.acquireTime).getTime());
