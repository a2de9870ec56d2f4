/**
 * Proves, in real containers, what the agent needs to run a command in the host's mount
 * namespace without privileged mode (`pnpm run prove:host-privileges`; root, runc, util-linux).
 *
 * A "host" is made the way a node is: a PID namespace whose PID 1 lives in a mount namespace of
 * its own, with a file only that namespace shows (/run/baton-proof/marker) and a sentinel. Each
 * case is a runc container as the kubelet and containerd would run the agent: its own mount,
 * network, IPC and UTS namespaces, the host's PID namespace (hostPID) or its own, uid 0, no new
 * privileges, a read-only root, containerd's masked and read-only /proc paths, the capabilities of
 * the case and containerd's RuntimeDefault seccomp profile for them (built from containerd's own
 * code, scripts/host-privileges/seccomp-default). The container runs the agent's own form of a
 * host command, `nsenter -m/proc/1/ns/mnt -- <command>`.
 *
 * Prints a table and writes JSON (--json PATH). Exits 1 when a case does not answer as expected.
 * What this cannot show here: a kubelet (no container runtime serves this machine's pods) and
 * AppArmor (this kernel has none); docs/security.md says what follows from each.
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { HOST_COMMAND_CAPABILITIES, type HostCapability } from './host-privileges-spec.ts';
import { onPath } from './programs.ts';

const NEEDED = Object.keys(HOST_COMMAND_CAPABILITIES) as HostCapability[];
/** What containerd gives a container that asks for nothing (its default capability set). */
const CONTAINERD_DEFAULT = [
  'CHOWN',
  'DAC_OVERRIDE',
  'FSETID',
  'FOWNER',
  'MKNOD',
  'NET_RAW',
  'SETGID',
  'SETUID',
  'SETFCAP',
  'SETPCAP',
  'NET_BIND_SERVICE',
  'SYS_CHROOT',
  'KILL',
  'AUDIT_WRITE',
];
const MARKER_DIR = '/run/baton-proof';
const MARKER = `${MARKER_DIR}/marker`;
const SENTINEL = `${MARKER_DIR}/reboot-required`;

interface Case {
  readonly name: string;
  readonly caps: readonly string[];
  readonly hostPid: boolean;
  /** The command nsenter runs in PID 1's mount namespace. */
  readonly command: readonly string[];
  readonly expect: { readonly exit: number; readonly stdout?: RegExp };
  readonly shows: string;
}

const catMarker = ['/bin/cat', MARKER];
const without = (cap: string) => NEEDED.filter((c) => c !== cap);

const CASES: readonly Case[] = [
  {
    name: `${NEEDED.join(' + ')}, hostPID`,
    caps: NEEDED,
    hostPid: true,
    command: catMarker,
    expect: { exit: 0, stdout: /^host-only$/m },
    shows: "enough: the command reads a file only the host's mount namespace has",
  },
  {
    name: 'the same, sentinel command (file there)',
    caps: NEEDED,
    hostPid: true,
    command: ['/usr/bin/test', '-e', SENTINEL],
    expect: { exit: 0 },
    shows: 'a sentinel command answers 0: reboot needed',
  },
  {
    name: 'the same, sentinel command (file absent)',
    caps: NEEDED,
    hostPid: true,
    command: ['/usr/bin/test', '-e', `${MARKER_DIR}/absent`],
    expect: { exit: 1 },
    shows: 'and 1: not needed (the exit code reaches the agent unchanged)',
  },
  {
    name: 'the same, what a host command may do',
    caps: NEEDED,
    hostPid: true,
    command: ['/bin/grep', '^CapEff', '/proc/self/status'],
    expect: { exit: 0, stdout: /^CapEff:\s+00000000002c0000$/m },
    shows:
      'the host command keeps only these three capabilities: no CAP_SYS_BOOT, so `systemctl reboot` (asking systemd) works, a direct reboot(2) would not',
  },
  ...NEEDED.map(
    (cap): Case => ({
      name: `without ${cap}`,
      caps: without(cap),
      hostPid: true,
      command: catMarker,
      expect: { exit: 1 },
      shows: `${cap} is needed: ${HOST_COMMAND_CAPABILITIES[cap]}`,
    }),
  ),
  {
    name: "containerd's default capabilities",
    caps: CONTAINERD_DEFAULT,
    hostPid: true,
    command: catMarker,
    expect: { exit: 1 },
    shows: 'an unprivileged pod that asks for nothing cannot enter',
  },
  {
    name: `${NEEDED.join(' + ')}, own PID namespace`,
    caps: NEEDED,
    hostPid: false,
    command: catMarker,
    expect: { exit: 127 },
    shows:
      "hostPID is needed: without it PID 1 is the container's own process, and the host's files are not there",
  },
];

function run(cmd: string, args: readonly string[]) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

function need(ok: boolean, what: string): void {
  if (!ok) {
    process.stderr.write(`host-privileges: ${what}\n`);
    process.exit(2);
  }
}

/** containerd's RuntimeDefault seccomp profile for these capabilities, from containerd's own code. */
function seccompProfile(caps: readonly string[]): unknown {
  const r = spawnSync('go', ['run', '.', ...caps.map((c) => `CAP_${c}`)], {
    cwd: join(import.meta.dirname, 'host-privileges', 'seccomp-default'),
    encoding: 'utf8',
  });
  need(r.status === 0, `go run of scripts/host-privileges/seccomp-default failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** A root filesystem with nsenter and the libraries it loads, nothing else. */
function rootfs(dir: string): string {
  const root = join(dir, 'rootfs');
  for (const d of ['proc', 'dev', 'sys', 'tmp', 'usr/bin']) mkdirSync(join(root, d), { recursive: true });
  const copy = (file: string) => {
    mkdirSync(dirname(join(root, file)), { recursive: true });
    copyFileSync(file, join(root, file)); // follows symlinks: the library itself
  };
  copy('/usr/bin/nsenter');
  const libs = run('ldd', ['/usr/bin/nsenter']).stdout.matchAll(/(\/\S+\.so[.\d]*)/g);
  for (const [, lib] of libs) if (lib) copy(lib);
  return root;
}

/** The host: PID 1 of a new PID namespace, in a mount namespace with a file only it shows. */
function startHost(): { pid: number; stop: () => void } {
  mkdirSync(MARKER_DIR, { recursive: true });
  const script = `mount -t tmpfs tmpfs ${MARKER_DIR} && echo host-only > ${MARKER} && : > ${SENTINEL} && exec sleep 600`;
  const unshare = spawn(
    'unshare',
    ['--pid', '--fork', '--mount', '--propagation=private', '--mount-proc', 'sh', '-c', script],
    { stdio: 'ignore' },
  );
  // unshare forks PID 1 of the new namespace: its child, ready once its mount is there.
  let pid = 0;
  for (let i = 0; i < 100 && pid === 0; i++) {
    spawnSync('sleep', ['0.1']);
    const children = readFileSync(`/proc/${unshare.pid}/task/${unshare.pid}/children`, 'utf8').trim();
    const candidate = Number(children.split(' ')[0] || 0);
    if (candidate !== 0 && readFileSync(`/proc/${candidate}/mounts`, 'utf8').includes(MARKER_DIR))
      pid = candidate;
  }
  need(pid !== 0, 'the host namespace did not start');
  return {
    pid,
    stop: () => {
      process.kill(pid, 'SIGKILL');
      unshare.kill('SIGKILL');
    },
  };
}

const MASKED = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/sys/firmware',
  '/proc/scsi',
];
const READONLY = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

function config(c: Case, hostPid: number, seccomp: unknown): object {
  const caps = c.caps.map((x) => `CAP_${x}`);
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: ['/usr/bin/nsenter', '-m/proc/1/ns/mnt', '--', ...c.command],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      cwd: '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: true },
    hostname: 'agent',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    ],
    linux: {
      namespaces: [
        c.hostPid ? { type: 'pid', path: `/proc/${hostPid}/ns/pid` } : { type: 'pid' },
        { type: 'mount' },
        { type: 'network' },
        { type: 'ipc' },
        { type: 'uts' },
      ],
      maskedPaths: MASKED,
      readonlyPaths: READONLY,
      seccomp,
    },
  };
}

const { values } = parseArgs({ options: { json: { type: 'string' } } });
need(process.getuid?.() === 0, 'must run as root (runc, namespaces)');
for (const p of ['runc', 'unshare', 'nsenter', 'ldd', 'go'])
  need(onPath(p), `${p} is not on PATH (Debian: apt-get install runc util-linux libc-bin; Go from go.dev)`);
const dir = mkdtempSync(join(tmpdir(), 'baton-host-privileges-'));
const host = startHost();
const results: {
  case: string;
  caps: readonly string[];
  hostPid: boolean;
  exit: number;
  out: string;
  ok: boolean;
  shows: string;
}[] = [];
try {
  rootfs(dir);
  for (const [i, c] of CASES.entries()) {
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify(config(c, host.pid, seccompProfile(c.caps)), null, 1),
    );
    const r = run('runc', ['run', '--bundle', dir, `baton-proof-${process.pid}-${i}`]);
    const out = `${r.stdout}${r.stderr}`.trim();
    const ok = r.code === c.expect.exit && (c.expect.stdout === undefined || c.expect.stdout.test(r.stdout));
    results.push({ case: c.name, caps: c.caps, hostPid: c.hostPid, exit: r.code, out, ok, shows: c.shows });
  }
} finally {
  host.stop();
  rmSync(dir, { recursive: true, force: true });
  rmSync(MARKER_DIR, { recursive: true, force: true }); // the empty mount point on this machine
}
const rows = [
  ['case', 'exit', 'as expected', 'output'],
  ...results.map((r) => [r.case, String(r.exit), r.ok ? 'yes' : 'NO', r.out.split('\n')[0] ?? '']),
];
const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length))) ?? [];
for (const row of rows) console.log(row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join(' | '));
for (const r of results) console.log(`- ${r.case}: ${r.shows}`);
if (values.json)
  writeFileSync(
    values.json,
    `${JSON.stringify({ at: new Date().toISOString(), kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(), runc: run('runc', ['--version']).stdout.split('\n')[0], results }, null, 2)}\n`,
  );
process.exit(results.every((r) => r.ok) ? 0 : 1);
