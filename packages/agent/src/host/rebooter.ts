/**
 * The last step: make the host reboot. Either a command run on the host (default
 * `systemctl reboot`, through nsenter into PID 1's mount namespace) or a signal to the host's
 * PID 1 (SIGRTMIN+5 makes systemd reboot; needs only CAP_KILL and hostPID).
 */
import type { AgentConfig } from '@baton/protocol/config';
import { type CommandRunner, hostCommand, runCommand } from '../sentinel/sentinel.ts';

/**
 * The reboot request could not even be made (the command was not found or could not be
 * executed, the signal could not be sent): nothing can be going down, so the agent may undo at
 * once. Any other failure (a non-zero exit, a timeout) leaves open whether the shutdown started.
 */
export class RebootNotStartedError extends Error {}

export interface Rebooter {
  readonly description: string;
  /** Asks the host to reboot. Resolves when the request was made; the machine goes down later. */
  reboot(): Promise<void>;
}

export function commandRebooter(
  argv: readonly string[],
  opts: { hostMountNamespace: boolean; run?: CommandRunner; timeoutMs?: number },
): Rebooter {
  const run = opts.run ?? runCommand;
  const full = hostCommand(argv, opts.hostMountNamespace);
  return {
    description: `command ${full.join(' ')}`,
    async reboot() {
      const r = await run(full, opts.timeoutMs ?? 60_000);
      // 126/127: nsenter (or a shell) could not execute the command or did not find it.
      if (r.spawnError !== undefined || r.code === 126 || r.code === 127) {
        const why = r.spawnError ?? `exit code ${r.code}: ${r.stderr.trim().slice(0, 300)}`;
        throw new RebootNotStartedError(`reboot command "${full.join(' ')}" could not be started (${why})`);
      }
      if (r.code !== 0) {
        const why = r.code === null ? `signal ${r.signal}` : `exit code ${r.code}`;
        throw new Error(
          `reboot command "${full.join(' ')}" failed (${why}): ${r.stderr.trim().slice(0, 300)}`,
        );
      }
    },
  };
}

export function signalRebooter(
  signal: number,
  kill: (pid: number, signal: number) => void = process.kill,
): Rebooter {
  return {
    description: `signal ${signal} to PID 1`,
    async reboot() {
      try {
        kill(1, signal);
      } catch (err) {
        throw new RebootNotStartedError(
          `signal ${signal} to PID 1 could not be sent: ${(err as Error).message}`,
        );
      }
    },
  };
}

export function rebooterFor(config: AgentConfig): Rebooter {
  return config.rebootMethod === 'signal'
    ? signalRebooter(config.rebootSignal)
    : commandRebooter(config.rebootCommand, { hostMountNamespace: config.hostMountNamespace });
}
