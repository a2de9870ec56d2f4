import { describe, expect, it } from 'vitest';
import type { CommandResult } from '../sentinel/sentinel.ts';
import { commandRebooter, RebootNotStartedError, signalRebooter } from './rebooter.ts';

const ok: CommandResult = { code: 0, signal: null, spawnError: undefined, timedOut: false, stderr: '' };

describe('rebooters', () => {
  it('runs the command through nsenter on the host by default', async () => {
    const ran: (readonly string[])[] = [];
    await commandRebooter(['/bin/systemctl', 'reboot'], {
      hostMountNamespace: true,
      run: async (argv) => {
        ran.push(argv);
        return ok;
      },
    }).reboot();
    expect(ran).toEqual([['nsenter', '-m/proc/1/ns/mnt', '--', '/bin/systemctl', 'reboot']]);
  });

  it('fails loudly when the command fails, so the agent does not believe it rebooted', async () => {
    const r = commandRebooter(['/bin/systemctl', 'reboot'], {
      hostMountNamespace: false,
      run: async () => ({ ...ok, code: 1, stderr: 'Failed to connect to bus\n' }),
    });
    await expect(r.reboot()).rejects.toThrow(/failed \(exit code 1\): Failed to connect to bus/);
  });

  it('tells a command that never ran (spawn error, 126, 127) from one that ran and failed', async () => {
    // The agent undoes at once only when nothing can be going down; a failure after the command
    // ran (exit 1, a signal, a timeout) may come from a shutdown already under way.
    const with_ = (r: Partial<CommandResult>) =>
      commandRebooter(['/bin/systemctl', 'reboot'], {
        hostMountNamespace: true,
        run: async () => ({ ...ok, ...r }),
      });
    for (const r of [{ spawnError: 'ENOENT', code: null }, { code: 127 }, { code: 126 }]) {
      await expect(with_(r).reboot()).rejects.toBeInstanceOf(RebootNotStartedError);
    }
    for (const r of [{ code: 1 }, { code: null, signal: 'SIGKILL' as NodeJS.Signals, timedOut: true }]) {
      const err = await with_(r)
        .reboot()
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect(err).not.toBeInstanceOf(RebootNotStartedError);
    }
  });

  it('a signal that cannot be sent never went out', async () => {
    const r = signalRebooter(39, () => {
      throw Object.assign(new Error('kill EPERM'), { code: 'EPERM' });
    });
    await expect(r.reboot()).rejects.toBeInstanceOf(RebootNotStartedError);
  });

  it('sends the configured signal to PID 1', async () => {
    const sent: [number, number][] = [];
    await signalRebooter(39, (pid, sig) => void sent.push([pid, sig])).reboot();
    expect(sent).toEqual([[1, 39]]);
  });
});
