/**
 * A real node for the e2e suite: containerd and runc from Debian, a kubelet built from
 * k8s.io/kubernetes (e2e/tools/build.sh kubelet), registered with the harness's API server as
 * `system:node:<name>`. It runs in PID, mount and network namespaces of its own
 * (real-node/machine.sh powers it on, real-node/init.sh is its PID 1), so that the agent's reboot
 * command, which enters PID 1's mount namespace, reaches the node's init and never this machine's.
 *
 * Traffic stays on loopback and in the node's namespaces: the node reaches the API server through
 * a Unix socket (this process listens on it and connects to the API server; inside the node,
 * bench/tcp-to-unix.ts on the workspace's Node carries TCP to it), pods through the `kubernetes` Service's ClusterIP, which
 * the node's network namespace sends to that forwarder (kube-proxy's part, one DNAT rule). Pods
 * get their addresses from the CNI bridge plugin inside the node's network namespace.
 *
 * A reboot is what the node's init does on SIGUSR1: it stops the kubelet and containerd, kills
 * every process of the node and exits; the machine then boots it again with a new network
 * namespace, a fresh /run and a new boot ID (bound over /proc/sys/kernel/random/boot_id, which
 * the kubelet reports).
 */
import { execFile } from 'node:child_process';
import { type Dirent, existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { splice } from '../../bench/tcp-to-unix.ts';
import { clusterEndpoint } from './cluster.ts';
import { signClientCert } from './pki.ts';
import { isAlive, type ManagedProcess, startProcess, tailOf } from './processes.ts';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const machineScript = join(here, 'real-node', 'machine.sh');
const tcpToUnix = join(here, '..', '..', 'bench', 'tcp-to-unix.ts');

/** The ClusterIP of the `kubernetes` Service: the first of the harness's --service-cluster-ip-range. */
const SERVICE_IP = '10.96.0.1';
/** Where, inside the node's network namespace, the API server's forwarder listens. */
const API_PORT_IN_NODE = 6443;
/** The node's address (a dummy interface of its network namespace) and its pods' subnet. */
const NODE_IP = '10.99.0.2';
const POD_SUBNET = '10.88.0.0/24';
/** The sandbox image the node's containerd runs every pod with (e2e/tools/images.sh makes it). */
export const PAUSE_IMAGE = 'registry.k8s.io/pause:3.10';

/** What the machine needs for a real node, each with the Debian package that brings it. */
const NEEDED: readonly { readonly path: string; readonly from: string }[] = [
  { path: '/usr/bin/containerd', from: 'containerd' },
  { path: '/usr/bin/ctr', from: 'containerd' },
  { path: '/usr/sbin/runc', from: 'runc' },
  { path: '/usr/lib/cni/bridge', from: 'containernetworking-plugins' },
  { path: '/usr/lib/cni/host-local', from: 'containernetworking-plugins' },
  { path: '/usr/lib/cni/loopback', from: 'containernetworking-plugins' },
  { path: '/usr/sbin/iptables', from: 'iptables' },
  { path: '/usr/bin/buildah', from: 'buildah' },
  { path: '/usr/sbin/debootstrap', from: 'debootstrap' },
  { path: '/usr/bin/unshare', from: 'util-linux' },
  { path: '/usr/bin/nsenter', from: 'util-linux' },
  { path: '/usr/bin/ip', from: 'iproute2' },
];

/**
 * Why a real node cannot run on this machine, or undefined when it can: root (namespaces,
 * cgroups, containerd), the programs above, and a writable cgroup hierarchy.
 */
export function realNodeUnsupported(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root: a real node needs namespaces, cgroups and containerd';
  const missing = NEEDED.filter((n) => !existsSync(n.path));
  if (missing.length > 0)
    return `missing ${missing.map((m) => `${m.path} (Debian package ${m.from})`).join(', ')}`;
  if (!existsSync('/sys/fs/cgroup/memory') && !existsSync('/sys/fs/cgroup/cgroup.controllers'))
    return 'no cgroup hierarchy at /sys/fs/cgroup';
  return undefined;
}

export interface RealNodeOptions {
  /** The harness's cluster directory (its control.json names the API server and the PKI). */
  readonly clusterDir: string;
  /** The Node's name; also names the network namespace and the cgroup parent. */
  readonly name: string;
  /** The kubelet binary (e2e/tools/build.sh kubelet). */
  readonly kubelet: string;
  /** docker-archive files imported into the node's containerd at its first boot. */
  readonly images: readonly string[];
  /** Labels the kubelet registers the Node with. */
  readonly labels?: Readonly<Record<string, string>>;
}

export interface RealNode {
  readonly name: string;
  readonly dir: string;
  /** The node's init as this machine numbers it (PID 1 in the node's namespace). */
  initPid(): number | undefined;
  /** Runs argv on the node: in its init's mount, network and PID namespaces. */
  exec(argv: readonly string[]): Promise<string>;
  /** The boot ID the node's kernel would report (what the kubelet reads). */
  bootId(): Promise<string>;
  /** Proves the node's PID 1 is its own init, not this machine's: throws otherwise. */
  assertOwnInit(): void;
  /** Lines of the node's logs (init, kubelet, containerd, machine), for a failure message. */
  logs(lines?: number): string;
  /** Powers the node off: every process of it stops, its namespaces and cgroups are removed. */
  stop(): Promise<void>;
}

const nsLink = (pid: number | 'self', ns: string): string => readlinkSync(`/proc/${pid}/ns/${ns}`);

/**
 * What keeps process `pid` from being a node's own init: sharing this process's PID, mount or
 * network namespace, or not being PID 1 in its PID namespace. Empty: it is a node's own init.
 */
export function ownInitProblems(pid: number): string[] {
  const nspid = /^NSpid:\s+(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]?.split(/\s+/);
  return [
    nsLink(pid, 'pid') === nsLink('self', 'pid') ? "it shares this machine's PID namespace" : '',
    nsLink(pid, 'mnt') === nsLink('self', 'mnt') ? "it shares this machine's mount namespace" : '',
    nsLink(pid, 'net') === nsLink('self', 'net') ? "it shares this machine's network namespace" : '',
    nspid?.at(-1) !== '1' ? `it is not PID 1 in its namespace (NSpid ${nspid?.join(' ')})` : '',
  ].filter(Boolean);
}

export async function startRealNode(opts: RealNodeOptions): Promise<RealNode> {
  const unsupported = realNodeUnsupported();
  if (unsupported) throw new Error(`a real node cannot run here: ${unsupported}`);
  const { server, pki } = clusterEndpoint(opts.clusterDir);
  const dir = join(opts.clusterDir, 'nodes', opts.name);
  await rm(dir, { recursive: true, force: true });
  for (const d of ['log', 'varlog', 'kubelet', 'containerd', 'cni', 'images', 'opt', 'volume-plugins'])
    await mkdir(join(dir, d), { recursive: true });
  const p = (f: string) => join(dir, f);
  const netns = `baton-${opts.name}`;
  const cgroupParent = `baton-${opts.name}`;
  const apiSocket = p('api.sock');

  const cert = await signClientCert(pki, `node-${opts.name}`, `/O=system:nodes/CN=system:node:${opts.name}`);
  await writeFile(
    p('kubelet.kubeconfig'),
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      `- name: harness`,
      '  cluster:',
      `    server: https://127.0.0.1:${API_PORT_IN_NODE}`,
      `    certificate-authority: ${pki.caCert}`,
      'users:',
      `- name: node`,
      '  user:',
      `    client-certificate: ${cert.cert}`,
      `    client-key: ${cert.key}`,
      'contexts:',
      '- name: node',
      '  context: {cluster: harness, user: node}',
      'current-context: node',
      '',
    ].join('\n'),
  );
  const labels = Object.entries(opts.labels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  await writeFile(
    p('kubelet.yaml'),
    JSON.stringify(
      {
        apiVersion: 'kubelet.config.k8s.io/v1beta1',
        kind: 'KubeletConfiguration',
        authentication: {
          anonymous: { enabled: false },
          webhook: { enabled: false },
          x509: { clientCAFile: pki.caCert },
        },
        authorization: { mode: 'AlwaysAllow' },
        cgroupDriver: 'cgroupfs',
        cgroupRoot: `/${cgroupParent}`,
        // This machine mounts cgroup v1 (with a v2 `unified` beside it); 1.35 refuses v1 unless told.
        failCgroupV1: false,
        failSwapOn: false,
        readOnlyPort: 0,
        volumePluginDir: p('volume-plugins'),
        resolvConf: '/etc/resolv.conf',
        serializeImagePulls: false,
        // The images are imported, never pulled: the kubelet must not collect them.
        imageGCHighThresholdPercent: 100,
        imageGCLowThresholdPercent: 99,
        evictionHard: { 'memory.available': '1Mi', 'nodefs.available': '1%', 'imagefs.available': '1%' },
        localStorageCapacityIsolation: false,
        nodeStatusUpdateFrequency: '5s',
        shutdownGracePeriod: '0s',
      },
      null,
      2,
    ),
  );
  await writeFile(
    p('containerd.toml'),
    [
      'version = 2',
      `root = "${p('containerd')}"`,
      'state = "/run/containerd"',
      'disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]',
      '[grpc]',
      '  address = "/run/containerd/containerd.sock"',
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = "${p('opt')}"`,
      '[plugins."io.containerd.grpc.v1.cri"]',
      `  sandbox_image = "${PAUSE_IMAGE}"`,
      // This machine lacks CAP_SYS_RESOURCE: no process may lower its OOM score below containerd's,
      // which runc would do for every sandbox (-998) and fail. Kept at containerd's own score.
      '  restrict_oom_score_adj = true',
      '  [plugins."io.containerd.grpc.v1.cri".containerd]',
      '    snapshotter = "overlayfs"',
      '    default_runtime_name = "runc"',
      '    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]',
      '      runtime_type = "io.containerd.runc.v2"',
      '      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]',
      '        SystemdCgroup = false',
      '  [plugins."io.containerd.grpc.v1.cri".cni]',
      '    bin_dir = "/usr/lib/cni"',
      `    conf_dir = "${p('cni')}"`,
      '',
    ].join('\n'),
  );
  await writeFile(
    p('cni/10-baton-node.conflist'),
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'baton-node',
      plugins: [
        {
          type: 'bridge',
          bridge: 'cni0',
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: POD_SUBNET }]],
            routes: [{ dst: '0.0.0.0/0' }],
            // On the boot's /run: a reboot forgets the pods' addresses, as the pods are gone too.
            dataDir: '/run/cni-ipam',
          },
        },
      ],
    }),
  );
  for (const image of opts.images) await symlink(image, p(join('images', basename(image))));
  await writeFile(
    p('node.env'),
    Object.entries({
      NODE_NAME: opts.name,
      NETNS: netns,
      NODE_IP,
      SERVICE_IP,
      API_PORT_IN_NODE: String(API_PORT_IN_NODE),
      API_SOCKET: apiSocket,
      CGROUP_PARENT: cgroupParent,
      KUBELET: opts.kubelet,
      KUBELET_LABELS: labels,
      NODE_BIN: process.execPath,
      TCP_TO_UNIX: tcpToUnix,
    })
      .map(([k, v]) => `${k}=${shellQuote(v)}\n`)
      .join(''),
  );

  // The API server on a Unix socket the node's forwarder connects to.
  const hostPort = Number(new URL(server).port);
  const forwarder = createServer({ allowHalfOpen: true }, (conn) =>
    splice(conn, createConnection({ host: '127.0.0.1', port: hostPort, allowHalfOpen: true })),
  );
  await new Promise<void>((resolve, reject) => {
    forwarder.once('error', reject);
    forwarder.listen(apiSocket, () => resolve());
  });
  const machine: ManagedProcess = startProcess({
    name: `${opts.name}-machine`,
    command: 'bash',
    args: [machineScript, dir],
    logPath: p('log/machine.log'),
  });

  const initPid = (): number | undefined => {
    try {
      const pid = Number(readFileSync(p('init.pid'), 'utf8').trim());
      return pid > 0 && isAlive(pid) ? pid : undefined;
    } catch {
      return undefined;
    }
  };
  const node: RealNode = {
    name: opts.name,
    dir,
    initPid,
    async exec(argv) {
      const pid = initPid();
      if (pid === undefined) throw new Error(`${opts.name} is not running (between boots or stopped)`);
      const { stdout } = await run('nsenter', [
        `--target=${pid}`,
        '--mount',
        '--net',
        '--pid',
        '--',
        ...argv,
      ]);
      return stdout;
    },
    async bootId() {
      return (await node.exec(['cat', '/proc/sys/kernel/random/boot_id'])).trim();
    },
    assertOwnInit() {
      const pid = initPid();
      if (pid === undefined) throw new Error(`${opts.name}: no init is running`);
      const problems = ownInitProblems(pid);
      if (problems.length > 0)
        throw new Error(
          `refusing to use ${opts.name}: its init (pid ${pid}) must be PID 1 of namespaces of its own, but ${problems.join('; ')}. ` +
            "The agent's reboot command enters PID 1's mount namespace.",
        );
    },
    logs(lines = 25) {
      const components = ['machine', 'init', 'kubelet', 'containerd', 'images', 'forwarder'].map(
        (f) => `--- ${f}.log\n${tailOf(p(`log/${f}.log`), lines)}`,
      );
      // The containers' own output, as the kubelet keeps it: <namespace>_<pod>_<uid>/<container>/<n>.log
      const containers = listFiles(p('varlog/pods'), 3).map(
        (f) => `--- ${f.slice(p('varlog/pods').length + 1)}\n${tailOf(f, lines)}`,
      );
      return [...components, ...containers].join('\n');
    },
    async stop() {
      const pid = initPid();
      if (!machine.hasExited()) process.kill(machine.pid, 'SIGTERM');
      const deadline = Date.now() + 30_000;
      while (!machine.hasExited() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      if (pid !== undefined && isAlive(pid)) process.kill(pid, 'SIGKILL');
      await machine.stop(1000);
      await new Promise((r) => forwarder.close(r));
      await run('ip', ['netns', 'delete', netns]).catch(() => undefined);
    },
  };

  // Boot: the init is up within seconds; the guard runs on it before anything else uses the node.
  const deadline = Date.now() + 30_000;
  while (initPid() === undefined) {
    if (machine.hasExited() || Date.now() > deadline)
      throw new Error(`${opts.name} did not boot:\n${node.logs()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  try {
    node.assertOwnInit();
  } catch (err) {
    await node.stop();
    throw err;
  }
  return node;
}

/** Files exactly `depth` directories below `dir` (none when it does not exist). */
function listFiles(dir: string, depth: number): string[] {
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((e) => {
    const path = join(dir, e.name);
    if (depth === 1) return e.isFile() ? [path] : [];
    return e.isDirectory() ? listFiles(path, depth - 1) : [];
  });
}

function shellQuote(v: string): string {
  return `'${v.replaceAll("'", "'\\''")}'`;
}
