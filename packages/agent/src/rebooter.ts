/**
 * The last step: make the host reboot. Either a command run on the host (default
 * `systemctl reboot`, through nsenter into PID 1's mount namespace) or a signal to the host's
 * PID 1 (SIGRTMIN+5 makes systemd reboot; needs only CAP_KILL and hostPID).
 */
import type { AgentConfig } from '@baton/protocol';
import { type CommandRunner, hostCommand, runCommand } from './sentinel.ts';

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
      if (r.spawnError !== undefined || r.code !== 0) {
        const why = r.spawnError ?? (r.code === null ? `signal ${r.signal}` : `exit code ${r.code}`);
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
      kill(1, signal);
    },
  };
}

export function rebooterFor(config: AgentConfig): Rebooter {
  return config.rebootMethod === 'signal'
    ? signalRebooter(config.rebootSignal)
    : commandRebooter(config.rebootCommand, { hostMountNamespace: config.hostMountNamespace });
}
