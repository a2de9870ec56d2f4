import { describe, expect, it } from 'vitest';
import { commandRebooter, signalRebooter } from './rebooter.ts';
import type { CommandResult } from './sentinel.ts';

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

  it('sends the configured signal to PID 1', async () => {
    const sent: [number, number][] = [];
    await signalRebooter(39, (pid, sig) => void sent.push([pid, sig])).reboot();
    expect(sent).toEqual([[1, 39]]);
  });
});
