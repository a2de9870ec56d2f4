/**
 * One of baton's images started on its own, without a kubelet: buildah gives the image's root
 * filesystem, runc runs its entrypoint in a container as a runtime would from a pod's
 * securityContext (user, read-only root filesystem, capabilities dropped, no new privileges).
 * The container shares this machine's network namespace, so it reaches the harness's API server
 * on loopback; everything else is its own (PID, mount, IPC, UTS).
 */
import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type ManagedProcess, startProcess } from './processes.ts';

const run = promisify(execFile);
const buildahEnv = { ...process.env, STORAGE_DRIVER: 'vfs' };
const buildah = async (args: readonly string[]) =>
  (await run('buildah', [...args], { env: buildahEnv, maxBuffer: 16 * 1024 * 1024 })).stdout.trim();

export interface BindMount {
  readonly source: string;
  readonly destination: string;
  readonly readOnly?: boolean;
}

export interface StandaloneOptions {
  /** The image (in buildah's storage). */
  readonly image: string;
  /** Names the container and its bundle directory (under `dir`). */
  readonly name: string;
  readonly dir: string;
  /** Arguments after the image's entrypoint (a pod's `args`). */
  readonly args?: readonly string[];
  /** Added to the image's environment. */
  readonly env?: Readonly<Record<string, string>>;
  /** Default: the image's USER. */
  readonly user?: { readonly uid: number; readonly gid: number };
  readonly readOnlyRootFilesystem: boolean;
  readonly mounts?: readonly BindMount[];
}

export interface StandaloneContainer {
  readonly id: string;
  readonly process: ManagedProcess;
  /** The container's init as this machine numbers it (runc state), while it runs. */
  pid(): Promise<number | undefined>;
  /** Stops the container (SIGTERM, then SIGKILL) and removes it and its root filesystem. */
  stop(): Promise<void>;
}

interface ImageConfig {
  Entrypoint?: string[];
  Cmd?: string[];
  Env?: string[];
  WorkingDir?: string;
  User?: string;
}

function userOf(image: ImageConfig): { uid: number; gid: number } {
  const [uid = '0', gid = uid] = (image.User ?? '').split(':');
  if (!/^\d+$/.test(uid) || !/^\d+$/.test(gid))
    throw new Error(`the image's USER "${image.User}" is not numeric; pass a user`);
  return { uid: Number(uid), gid: Number(gid) };
}

export async function runStandalone(opts: StandaloneOptions): Promise<StandaloneContainer> {
  const id = `baton-${opts.name}-${process.pid}`;
  const bundle = join(opts.dir, id);
  await mkdir(bundle, { recursive: true });
  const inspected = JSON.parse(await buildah(['inspect', '--type', 'image', opts.image])) as {
    OCIv1?: { config?: ImageConfig };
  };
  const image = inspected.OCIv1?.config ?? {};
  await buildah(['rm', id]).catch(() => undefined);
  await buildah(['from', '--quiet', '--pull=never', '--name', id, opts.image]);
  const rootfs = await buildah(['mount', id]);
  const user = opts.user ?? userOf(image);
  const mounts = [
    { destination: '/proc', type: 'proc', source: 'proc' },
    {
      destination: '/dev',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'],
    },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
    },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    ...(opts.mounts ?? []).map((m) => ({
      destination: m.destination,
      type: 'bind',
      source: m.source,
      options: ['rbind', m.readOnly === false ? 'rw' : 'ro'],
    })),
  ];
  const config = {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: user.uid, gid: user.gid },
      args: [...(image.Entrypoint ?? []), ...(opts.args ?? image.Cmd ?? [])],
      env: [...(image.Env ?? []), ...Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${v}`)],
      cwd: image.WorkingDir || '/',
      // A pod's `capabilities: {drop: [ALL]}` and `allowPrivilegeEscalation: false`.
      capabilities: { bounding: [], effective: [], permitted: [], ambient: [] },
      noNewPrivileges: true,
    },
    root: { path: rootfs, readonly: opts.readOnlyRootFilesystem },
    hostname: opts.name,
    mounts,
    linux: {
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/sys/firmware'],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
  await writeFile(join(bundle, 'config.json'), JSON.stringify(config, null, 2));
  const proc = startProcess({
    name: id,
    command: 'runc',
    args: ['run', '--bundle', bundle, id],
    logPath: join(opts.dir, `${opts.name}.log`),
  });
  const pid = async (): Promise<number | undefined> => {
    try {
      const state = JSON.parse((await run('runc', ['state', id])).stdout) as {
        pid?: number;
        status?: string;
      };
      return state.status === 'running' ? state.pid : undefined;
    } catch {
      return undefined;
    }
  };
  return {
    id,
    process: proc,
    pid,
    async stop() {
      if (!proc.hasExited()) await run('runc', ['kill', id, 'TERM']).catch(() => undefined);
      const deadline = Date.now() + 15_000;
      while (!proc.hasExited() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      await run('runc', ['delete', '--force', id]).catch(() => undefined);
      await proc.stop(1000);
      await buildah(['umount', id]).catch(() => undefined);
      await buildah(['rm', id]).catch(() => undefined);
      await rm(bundle, { recursive: true, force: true });
    },
  };
}
