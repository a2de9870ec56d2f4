/**
 * `./run demo` does what the README says: the chart installed with helm, the controller and an
 * agent per fake node, every node rebooted exactly once and never two at a time (as the printed
 * frames show), commands that work, and Ctrl-C — even twice — stops every process it started and
 * removes the cluster's directory.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { LEADER_LEASE, slotLeaseName } from '@baton/protocol';
import { describe, expect, inject, it } from 'vitest';
import { clustersRoot } from './harness/cluster.ts';
import { waitFor } from './harness/kube.ts';
import { isAlive } from './harness/processes.ts';
import { ensureTools } from './harness/tools.ts';
import { planFor, readmeCommands } from './readme.ts';

const run = promisify(execFile);

/** Pids of live processes whose command line mentions `needle`. */
function processesMentioning(needle: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(join('/proc', entry, 'cmdline'), 'utf8').includes(needle)) found.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

interface RowState {
  slot: string;
  reboots: number;
  rebootRequired: string;
  gate: string;
}

/**
 * Rebuilds every frame from the change lines (`[frame <n> …] <node> key=value …` and
 * `[frame <n> …] slots held <k>/<c>: …`) and returns the state after each frame.
 */
function replayFrames(out: string): { frames: Map<string, RowState>[]; slotsHeld: number[] } {
  const frames: Map<string, RowState>[] = [];
  const slotsHeld: number[] = [];
  const state = new Map<string, RowState>();
  let current: string | undefined;
  for (const line of out.split('\n')) {
    const m = /^\[frame (\d+) [^\]]*\] (.*)$/.exec(line);
    if (!m) continue;
    if (current !== undefined && m[1] !== current) frames.push(new Map(state));
    current = m[1];
    const body = m[2] ?? '';
    const held = /^slots held (\d+)\/(\d+)/.exec(body);
    if (held) {
      slotsHeld.push(Number(held[1]));
      continue;
    }
    const row = /^(\S+) rebootRequired=(\S+) phase=\S+ slot=(\S+) gate=(\S+) reboots=(\d+)$/.exec(body);
    if (row) {
      state.set(row[1] ?? '', {
        rebootRequired: row[2] ?? '',
        slot: row[3] ?? '',
        gate: row[4] ?? '',
        reboots: Number(row[5]),
      });
    }
  }
  if (current !== undefined) frames.push(new Map(state));
  return { frames, slotsHeld };
}

describe.skipIf(!inject('ownCluster'))('the demo', () => {
  it('reboots every node once, one at a time, prints commands that work, and Ctrl-C (twice) leaves nothing running', async () => {
    const name = `demo-test-${process.pid}`;
    const nodeCount = 3;
    const clusterDir = join(clustersRoot(), name);
    // `./run demo` as the README gives it, in a process group of its own as a terminal runs it,
    // so Ctrl-C below reaches the whole group as a terminal's would.
    const repo = join(import.meta.dirname, '..');
    const child = spawn(join(repo, 'run'), ['demo'], {
      cwd: repo,
      env: { ...process.env, DEMO_CLUSTER_NAME: name, DEMO_NODES: String(nodeCount) },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const ctrlC = () => process.kill(-(child.pid ?? 0), 'SIGINT');
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const nodes = Array.from({ length: nodeCount }, (_, i) => `demo-node-${i}`);

    try {
      // The commands are printed once the rollout is done.
      const kubeconfig = await waitFor(
        'the demo to finish its rollout and print the kubeconfig',
        async () => {
          if (child.exitCode !== null) throw new Error(`the demo exited early:\n${out}\n${err}`);
          return /export KUBECONFIG=(\S+)/.exec(out)?.[1];
        },
        420_000,
      );
      const doneFrames = replayFrames(out);
      const last = doneFrames.frames.at(-1);
      for (const node of nodes) {
        expect(last?.get(node), `${node} in the table\n${out}`).toEqual({
          rebootRequired: 'False',
          slot: '-',
          gate: 'NotRequired',
          reboots: 1,
        });
      }
      // Every node went through a slot, and the reboot count never went past 1 on the way.
      for (const node of nodes) {
        expect(doneFrames.frames.some((f) => f.get(node)?.slot === slotLeaseName(0))).toBe(true);
        expect(Math.max(...doneFrames.frames.map((f) => f.get(node)?.reboots ?? 0))).toBe(1);
      }

      // The printed commands, run as printed.
      const namespace = /kubectl get leases -n (\S+)/.exec(out)?.[1] ?? '';
      expect(namespace).toBe('baton');
      expect(out).toContain('kubectl baton status');
      expect(out).toContain('kubectl baton pause');
      const { stdout: leases } = await run('kubectl', ['get', 'leases', '-n', namespace], {
        env: { ...process.env, KUBECONFIG: kubeconfig },
      });
      expect(leases).toContain(slotLeaseName(0));
      expect(leases).toContain(LEADER_LEASE);
      // The demo prints the sentinel to touch, in its cluster's directory.
      const touch = /^ {2}touch (\S+)$/m.exec(out);
      const sentinel = touch?.[1] ?? '';
      expect(sentinel.startsWith(clusterDir)).toBe(true);

      // The README's "try this" list, as written there, against this demo (its directory is
      // DEMO_CLUSTER_NAME's, not ~/.cache/baton/clusters/demo): kubectl, the plugin, pause,
      // resume, and the touch that asks demo-node-0 for a reboot once more.
      const readme = readmeCommands(readFileSync(join(repo, 'README.md'), 'utf8'));
      const tryThese = readme.filter(
        (c) => planFor(c).by === 'demo' && c.source === 'block' && c.text !== './run demo',
      );
      expect(tryThese.map((c) => c.text.split(' ')[0])).toEqual([
        'export',
        'kubectl',
        'export',
        'kubectl',
        'kubectl',
        'kubectl',
        'touch',
      ]);
      const { kubectl } = await ensureTools();
      const script = tryThese
        .map((c) => c.text.replaceAll('~/.cache/baton/clusters/demo', clusterDir))
        .join('\n');
      const tried = await run('bash', ['-c', `set -eo pipefail\n${script}`], {
        cwd: repo,
        env: {
          ...process.env,
          PATH: `${dirname(kubectl)}:${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
        },
      });
      expect(tried.stdout).toContain(slotLeaseName(0));
      expect(tried.stdout).toMatch(/^Pause: not paused/m);
      const again = nodes.find((n) => tryThese.at(-1)?.text.includes(`/${n}/`)) ?? '';
      expect(again).toBe('demo-node-0');
      await waitFor(
        `${again} rebooted a second time and settled`,
        async () => {
          const s = replayFrames(out).frames.at(-1)?.get(again);
          return s?.reboots === 2 && s.slot === '-' && s.gate === 'NotRequired';
        },
        180_000,
      );

      // Never two slots held with --concurrency=1, in any frame printed.
      const { frames, slotsHeld } = replayFrames(out);
      expect(slotsHeld.length).toBeGreaterThan(0);
      expect(Math.max(...slotsHeld)).toBe(1);
      for (const f of frames) {
        expect([...f.values()].filter((r) => r.slot !== '-').length).toBeLessThanOrEqual(1);
      }
      for (const node of nodes.filter((n) => n !== again)) expect(frames.at(-1)?.get(node)?.reboots).toBe(1);
    } catch (e) {
      child.kill('SIGKILL'); // its reapers clean up after it
      throw new Error(`${(e as Error).message}\n--- demo stdout ---\n${out}\n--- demo stderr ---\n${err}`);
    }

    // Every process the demo started: the control plane, the controller, the agents, the reapers.
    const { pids: controlPlane } = JSON.parse(readFileSync(join(clusterDir, 'owner.json'), 'utf8')) as {
      pids: number[];
    };
    const pidsIn = (file: string) =>
      readFileSync(join(clusterDir, 'baton', file), 'utf8')
        .trim()
        .split('\n')
        .map(Number);
    const pids = [...controlPlane, ...pidsIn('controller.pid'), ...pidsIn('pids')];
    expect(pids).toHaveLength(5 + 1 + nodeCount);
    const mentioning = processesMentioning(clusterDir);
    for (const pid of pids) expect(mentioning).toContain(pid);

    ctrlC();
    await new Promise((r) => setTimeout(r, 300));
    ctrlC(); // an impatient second Ctrl-C
    expect(await exited).toBe(0);
    expect(out).toContain('Stopped; nothing left running.');
    for (const pid of pids) expect(isAlive(pid), `pid ${pid}`).toBe(false);
    expect(processesMentioning(clusterDir)).toEqual([]);
    expect(existsSync(clusterDir)).toBe(false);
  }, 900_000);
});
