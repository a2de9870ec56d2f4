/**
 * Child processes of the harness: started in their own process group, logged to a file, waited
 * for until healthy, and stopped for sure — even when the test run dies.
 *
 * Three layers make sure nothing is left behind:
 * 1. `stop()` sends SIGTERM to each process group, then SIGKILL after a grace period.
 * 2. A detached reaper shell watches the harness process and kills the groups when it dies
 *    (SIGKILL of vitest, Ctrl-C twice, a crash) — exit handlers cannot run then.
 * 3. Every cluster directory records its pids; the next start kills what a previous, dead run
 *    left (see `reapStaleClusters`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  /** Resolves with the exit code (or signal) once the process has exited. */
  readonly exited: Promise<string>;
  hasExited(): boolean;
  /** SIGTERM the process group, SIGKILL after `graceMs`. Resolves once it is gone. */
  stop(graceMs?: number): Promise<void>;
  /** SIGSTOP / SIGCONT the process group (used by fault-injection tests: "pause etcd"). */
  pause(): void;
  resume(): void;
}

export interface StartOptions {
  name: string;
  command: string;
  args: readonly string[];
  logPath: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Starts `command` in a new process group with stdout and stderr appended to `logPath`. */
export function startProcess(opts: StartOptions): ManagedProcess {
  const fd = openSync(opts.logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(opts.command, [...opts.args], {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    });
  } finally {
    closeSync(fd);
  }
  if (child.pid === undefined) throw new Error(`${opts.name}: could not start ${opts.command}`);
  const pid = child.pid;
  let exitedFlag = false;
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => {
      exitedFlag = true;
      resolve(signal ?? `exit code ${code}`);
    });
    child.once('error', (err) => {
      exitedFlag = true;
      resolve(`spawn error: ${err.message}`);
    });
  });
  // The harness must be able to exit while children run (the demo keeps them, tests stop them).
  child.unref();

  const signalGroup = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-pid, sig);
    } catch {
      // Already gone.
    }
  };

  return {
    name: opts.name,
    pid,
    logPath: opts.logPath,
    exited,
    hasExited: () => exitedFlag,
    async stop(graceMs = 10_000) {
      if (exitedFlag) {
        signalGroup('SIGKILL'); // children of the leader may outlive it
        return;
      }
      signalGroup('SIGTERM');
      const done = await Promise.race([exited.then(() => true), sleep(graceMs).then(() => false)]);
      if (!done) {
        signalGroup('SIGKILL');
        await exited;
      }
      signalGroup('SIGKILL');
    },
    pause: () => signalGroup('SIGSTOP'),
    resume: () => signalGroup('SIGCONT'),
  };
}

/** The last `lines` lines of a log file, for error messages. */
export function tailOf(path: string, lines = 30): string {
  try {
    const text = readFileSync(path, 'utf8');
    return text
      .split('\n')
      .slice(-lines - 1)
      .join('\n');
  } catch (err) {
    return `(no log: ${(err as Error).message})`;
  }
}

/**
 * Polls `probe` until it returns true. Fails with the component's name and the tail of its log
 * when the process exits first or the deadline passes, so a component that does not come up is
 * named loudly instead of timing out a test somewhere later.
 */
export async function waitUntilHealthy(
  proc: ManagedProcess,
  probe: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = 'not probed yet';
  while (Date.now() < deadline) {
    if (proc.hasExited()) {
      const how = await proc.exited;
      throw new Error(
        `${proc.name} exited during start-up (${how}); last lines of ${proc.logPath}:\n${tailOf(proc.logPath)}`,
      );
    }
    try {
      if (await probe()) return;
      lastError = 'probe returned not ready';
    } catch (err) {
      lastError = (err as Error).message;
    }
    await sleep(200);
  }
  throw new Error(
    `${proc.name} did not become healthy within ${timeoutMs / 1000} s (${lastError}); ` +
      `last lines of ${proc.logPath}:\n${tailOf(proc.logPath)}`,
  );
}

/**
 * Starts a detached shell that waits for `ownerPid` to die and then kills `pids`' process groups.
 * Returns its pid so a clean stop can kill the reaper too.
 */
export function startReaper(ownerPid: number, pidsFile: string): number {
  const script = `
    while kill -0 ${ownerPid} 2>/dev/null; do sleep 1; done
    [ -f '${pidsFile}' ] || exit 0
    for p in $(cat '${pidsFile}'); do kill -TERM -- -"$p" 2>/dev/null; done
    sleep 5
    for p in $(cat '${pidsFile}'); do kill -KILL -- -"$p" 2>/dev/null; done
  `;
  const reaper = spawn('bash', ['-c', script], { detached: true, stdio: 'ignore' });
  reaper.unref();
  if (reaper.pid === undefined) throw new Error('could not start the reaper process');
  return reaper.pid;
}

/** True when a process with this pid exists and its command line contains `needle`. */
export function isLiveProcess(pid: number, needle: string): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes(needle);
  } catch {
    return false;
  }
}

/** True while a process with this pid exists (signal 0 probes without signalling). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
