/**
 * Test helpers that act on the cluster the way the world would: fake nodes with a settable
 * bootID, a node going NotReady and coming back, and ServiceAccount tokens bound to a pod so a
 * host process acts with exactly that pod's identity.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadKubeConfig as loadRuntimeKubeConfig } from '@baton/runtime';
import {
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Node,
  type V1NodeCondition,
} from '@kubernetes/client-node';

/** The annotation kwok selects the nodes it plays the kubelet for with (see cluster.ts). */
export const KWOK_NODE_ANNOTATION = 'kwok.x-k8s.io/node';

export const strategicMerge = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);
export const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** The runtime's one kubeconfig loader, for the tests' own clients too. */
export function loadKubeConfig(path: string): KubeConfig {
  return loadRuntimeKubeConfig(path);
}

export interface FakeNodeOptions {
  /** Node name prefix; nodes are `<prefix>-0`, `<prefix>-1`, … */
  prefix: string;
  count: number;
  labels?: Record<string, string>;
  /** Boot ID for every node (default: a fresh random one each). */
  bootId?: string;
}

/** Creates fake nodes managed by kwok. Returns their names. */
export async function createFakeNodes(kc: KubeConfig, opts: FakeNodeOptions): Promise<string[]> {
  const names: string[] = [];
  for (let i = 0; i < opts.count; i++) {
    const name = `${opts.prefix}-${i}`;
    await createFakeNode(kc, name, opts);
    names.push(name);
  }
  return names;
}

/**
 * Creates one fake node managed by kwok, named `name` (also a Node registered again by its
 * kubelet after the object was deleted: then give it the boot it came back on).
 */
export async function createFakeNode(
  kc: KubeConfig,
  name: string,
  opts: Pick<FakeNodeOptions, 'labels' | 'bootId'> = {},
): Promise<void> {
  const node: V1Node = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { [KWOK_NODE_ANNOTATION]: 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        type: 'kwok',
        ...opts.labels,
      },
    },
    status: {
      allocatable: { cpu: '32', memory: '256Gi', pods: '110' },
      capacity: { cpu: '32', memory: '256Gi', pods: '110' },
      nodeInfo: {
        architecture: 'amd64',
        bootID: opts.bootId ?? randomUUID(),
        containerRuntimeVersion: 'kwok',
        kernelVersion: 'kwok',
        kubeProxyVersion: 'kwok',
        kubeletVersion: 'kwok',
        machineID: randomUUID(),
        operatingSystem: 'linux',
        osImage: 'kwok',
        systemUUID: randomUUID(),
      },
    },
  };
  await kc.makeApiClient(CoreV1Api).createNode({ body: node });
}

export function readyCondition(node: V1Node): V1NodeCondition | undefined {
  return node.status?.conditions?.find((c) => c.type === 'Ready');
}

export function isNodeReady(node: V1Node): boolean {
  return readyCondition(node)?.status === 'True';
}

/** Polls `check` every 200 ms until it returns a value other than undefined/false. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    await sleep(200);
  }
  throw new Error(
    `timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`,
  );
}

export async function waitForNodesReady(
  kc: KubeConfig,
  names: readonly string[],
  timeoutMs = 60_000,
): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  for (const name of names) {
    await waitFor(`node ${name} Ready`, async () => isNodeReady(await core.readNode({ name })), timeoutMs);
  }
}

/**
 * Marks a fake node NotReady (as if its kubelet died) or Ready again.
 *
 * NotReady: kwok stops playing the node's kubelet (its annotation is removed, so no heartbeat
 * and no lease renewal) and the Ready condition is set to False, as a kubelet going down would
 * leave it. Ready: kwok manages it again, and its node-initialize stage marks it Ready.
 */
export async function setNodeReady(kc: KubeConfig, name: string, ready: boolean): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  if (!ready) {
    await core.patchNode(
      { name, body: { metadata: { annotations: { [KWOK_NODE_ANNOTATION]: null } } } },
      mergePatch,
    );
    const now = new Date().toISOString();
    await core.patchNodeStatus(
      {
        name,
        body: {
          status: {
            conditions: [
              {
                type: 'Ready',
                status: 'False',
                reason: 'KubeletNotReady',
                message: 'simulated: the node is rebooting',
                lastHeartbeatTime: now,
                lastTransitionTime: now,
              },
            ],
          },
        },
      },
      strategicMerge,
    );
    await waitFor(`node ${name} NotReady`, async () => !isNodeReady(await core.readNode({ name })));
    return;
  }
  await core.patchNode(
    { name, body: { metadata: { annotations: { [KWOK_NODE_ANNOTATION]: 'fake' } } } },
    mergePatch,
  );
  await waitForNodesReady(kc, [name]);
}

/** Sets `status.nodeInfo.bootID`, as a kubelet does after the machine booted. */
export async function setBootId(kc: KubeConfig, name: string, bootId: string): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await core.patchNodeStatus({ name, body: { status: { nodeInfo: { bootID: bootId } } } }, strategicMerge);
}

export interface PodToken {
  readonly token: string;
  readonly expiresAt: Date;
}

/**
 * Mints a ServiceAccount token bound to a pod (TokenRequest with a boundObjectRef), which is
 * what the kubelet projects into that pod: the token dies with the pod, and carries the pod's
 * node name in its claims when the pod is bound to a node.
 */
export async function mintPodToken(
  kc: KubeConfig,
  opts: { namespace: string; serviceAccount: string; pod: string; expirationSeconds?: number },
): Promise<PodToken> {
  const core = kc.makeApiClient(CoreV1Api);
  const pod = await core.readNamespacedPod({ name: opts.pod, namespace: opts.namespace });
  const res = await core.createNamespacedServiceAccountToken({
    name: opts.serviceAccount,
    namespace: opts.namespace,
    body: {
      spec: {
        audiences: [],
        expirationSeconds: opts.expirationSeconds ?? 3600,
        boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: opts.pod, uid: pod.metadata?.uid },
      },
    },
  });
  const token = res.status?.token;
  if (!token) throw new Error(`TokenRequest for ${opts.namespace}/${opts.serviceAccount} returned no token`);
  return { token, expiresAt: new Date(String(res.status?.expirationTimestamp)) };
}

/** Writes a kubeconfig that authenticates with `token` against the same server and CA as `admin`. */
export async function writeTokenKubeconfig(
  admin: KubeConfig,
  token: string,
  path: string,
  user = 'token-user',
): Promise<string> {
  const cluster = admin.getCurrentCluster();
  if (!cluster) throw new Error('the admin kubeconfig has no current cluster');
  const ca = cluster.caData ?? (cluster.caFile ? readFileSync(cluster.caFile).toString('base64') : undefined);
  const lines = [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: c',
    '  cluster:',
    `    server: ${cluster.server}`,
    ...(ca ? [`    certificate-authority-data: ${ca}`] : []),
    ...(cluster.skipTLSVerify ? ['    insecure-skip-tls-verify: true'] : []),
    'users:',
    `- name: ${user}`,
    '  user:',
    `    token: ${token}`,
    'contexts:',
    '- name: c',
    '  context:',
    '    cluster: c',
    `    user: ${user}`,
    'current-context: c',
    '',
  ];
  await writeFile(path, lines.join('\n'), { mode: 0o600 });
  return path;
}

/** A KubeConfig that authenticates with `token` (in memory, no file). */
export function tokenKubeConfig(admin: KubeConfig, token: string): KubeConfig {
  const cluster = admin.getCurrentCluster();
  if (!cluster) throw new Error('the admin kubeconfig has no current cluster');
  const kc = new KubeConfig();
  kc.loadFromClusterAndUser(cluster, { name: 'token-user', token });
  return kc;
}

/** A ServiceAccount token not bound to any pod (for the controller, which runs as a Deployment). */
export async function mintServiceAccountToken(
  kc: KubeConfig,
  opts: { namespace: string; serviceAccount: string; expirationSeconds?: number },
): Promise<string> {
  const core = kc.makeApiClient(CoreV1Api);
  const res = await core.createNamespacedServiceAccountToken({
    name: opts.serviceAccount,
    namespace: opts.namespace,
    body: { spec: { audiences: [], expirationSeconds: opts.expirationSeconds ?? 3600 } },
  });
  const token = res.status?.token;
  if (!token) throw new Error(`TokenRequest for ${opts.namespace}/${opts.serviceAccount} returned no token`);
  return token;
}

/** Sets a pod's Ready condition as a failing (or recovering) readiness probe would; kwok leaves it. */
export function setPodReady(core: CoreV1Api, namespace: string, pod: string, ready: boolean) {
  return core.patchNamespacedPodStatus(
    {
      name: pod,
      namespace,
      body: {
        status: {
          conditions: [
            { type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: new Date().toISOString() },
          ],
        },
      },
    },
    strategicMerge,
  );
}
