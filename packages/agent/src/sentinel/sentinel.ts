/**
 * How the agent learns that its node needs a reboot: a file, or a command run on the host.
 *
 * The answer is three-valued on purpose. kured treated every failure of its sentinel command as
 * "no reboot" — except that a `! cmd` wrapper turned "command not found" (127) into 0, and
 * nodes rebooted in a loop (kured #976). Here only exit 0 means "reboot" and only exit 1 means
 * "no reboot"; everything else, and every file that cannot be checked, is `Unknown` with the
 * reason, which the controller never grants.
 */
import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConditionStatus, RebootRequiredReason } from '@baton/protocol';

export interface SentinelReading {
  readonly status: ConditionStatus;
  readonly reason: RebootRequiredReason;
  readonly message: string;
}

export interface Sentinel {
  /** For logs: `file /var/run/reboot-required` or `command needs-restarting -r`. */
  readonly description: string;
  /** A directory to watch for changes (file sentinels), so a touch is seen at once. */
  readonly watchDirectory: string | undefined;
  check(): Promise<SentinelReading>;
}

type StatFn = (path: string) => Promise<unknown>;

function errnoOf(err: unknown): string {
  return typeof err === 'object' && err !== null && 'code' in err
    ? String((err as { code: unknown }).code)
    : 'unknown';
}

/**
 * A file sentinel: present → reboot. The path is the one inside the agent's container; the
 * chart mounts the host's directory there read-only. A missing *directory* is reported as
 * Unknown rather than "no reboot needed": it almost always means the host path is not mounted
 * where the agent looks (the most common kured support question, #952/#787).
 */
export function fileSentinel(path: string, statFn: StatFn = stat): Sentinel {
  const dir = dirname(path);
  return {
    description: `file ${path}`,
    watchDirectory: dir,
    async check() {
      try {
        await statFn(path);
        return {
          status: ConditionStatus.True,
          reason: RebootRequiredReason.SentinelPresent,
          message: `${path} exists`,
        };
      } catch (err) {
        const code = errnoOf(err);
        if (code !== 'ENOENT') {
          return {
            status: ConditionStatus.Unknown,
            reason: RebootRequiredReason.SentinelError,
            message: `cannot check ${path}: ${code}`,
          };
        }
      }
      try {
        await statFn(dir);
      } catch (err) {
        return {
          status: ConditionStatus.Unknown,
          reason: RebootRequiredReason.SentinelError,
          message: `directory ${dir} of the sentinel cannot be read (${errnoOf(err)}); is the host directory mounted at this path in the agent's container?`,
        };
      }
      return {
        status: ConditionStatus.False,
        reason: RebootRequiredReason.NoSentinel,
        message: `${path} does not exist`,
      };
    },
  };
}

export interface CommandResult {
  /** Exit code, or null when the process was killed by a signal or never ran. */
  readonly code: number | null;
  readonly signal: string | null;
  /** Set when the command could not be started at all (ENOENT, EACCES). */
  readonly spawnError: string | undefined;
  readonly timedOut: boolean;
  readonly stderr: string;
}

export type CommandRunner = (argv: readonly string[], timeoutMs: number) => Promise<CommandResult>;

/** Runs a command without a shell; never throws. */
export const runCommand: CommandRunner = (argv, timeoutMs) =>
  new Promise((resolve) => {
    const [file, ...args] = argv;
    if (file === undefined) {
      resolve({ code: null, signal: null, spawnError: 'empty command', timedOut: false, stderr: '' });
      return;
    }
    execFile(
      file,
      args,
      { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 },
      (err, _stdout, stderr) => {
        if (!err) {
          resolve({ code: 0, signal: null, spawnError: undefined, timedOut: false, stderr: String(stderr) });
          return;
        }
        const e = err as NodeJS.ErrnoException & {
          code?: number | string;
          signal?: string;
          killed?: boolean;
        };
        if (typeof e.code === 'string') {
          resolve({ code: null, signal: null, spawnError: e.code, timedOut: false, stderr: String(stderr) });
          return;
        }
        resolve({
          code: typeof e.code === 'number' ? e.code : null,
          signal: e.signal ?? null,
          spawnError: undefined,
          timedOut: e.killed === true && e.signal === 'SIGKILL',
          stderr: String(stderr),
        });
      },
    );
  });

const lastLine = (text: string): string => text.trim().split('\n').at(-1)?.slice(0, 200) ?? '';

/** The one place that decides what a sentinel command's outcome means. Pure. */
export function interpretCommandResult(command: string, r: CommandResult): SentinelReading {
  const unknown = (why: string): SentinelReading => ({
    status: ConditionStatus.Unknown,
    reason: RebootRequiredReason.SentinelError,
    message: `sentinel command "${command}" ${why}; not rebooting on that`,
  });
  if (r.spawnError !== undefined) return unknown(`could not be started (${r.spawnError})`);
  if (r.timedOut) return unknown('timed out');
  if (r.signal !== null) return unknown(`was killed by ${r.signal}`);
  // nsenter exits 1 when *it* fails (no rights, no /proc/1): that is not the command's "no".
  if (r.stderr.trimStart().startsWith('nsenter:'))
    return unknown(`could not enter the host (${lastLine(r.stderr)})`);
  switch (r.code) {
    case 0:
      return {
        status: ConditionStatus.True,
        reason: RebootRequiredReason.SentinelCommandSaysReboot,
        message: `"${command}" exited 0`,
      };
    case 1:
      return {
        status: ConditionStatus.False,
        reason: RebootRequiredReason.NoSentinel,
        message: `"${command}" exited 1`,
      };
    case 126:
      return unknown('exited 126 (not executable)');
    case 127:
      return unknown('exited 127 (command not found)');
    default: {
      const detail = lastLine(r.stderr);
      return unknown(`exited ${r.code}${detail ? ` (${detail})` : ''}`);
    }
  }
}

/** Where host commands run: through nsenter into PID 1's mount namespace, or directly. */
export function hostCommand(argv: readonly string[], hostMountNamespace: boolean): string[] {
  return hostMountNamespace ? ['nsenter', '-m/proc/1/ns/mnt', '--', ...argv] : [...argv];
}

export function commandSentinel(
  argv: readonly string[],
  opts: { hostMountNamespace: boolean; timeoutMs: number; run?: CommandRunner },
): Sentinel {
  const run = opts.run ?? runCommand;
  const text = argv.join(' ');
  return {
    description: `command ${text}`,
    watchDirectory: undefined,
    async check() {
      return interpretCommandResult(
        text,
        await run(hostCommand(argv, opts.hostMountNamespace), opts.timeoutMs),
      );
    },
  };
}
