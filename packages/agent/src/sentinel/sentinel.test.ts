import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CommandResult,
  commandSentinel,
  fileSentinel,
  hostCommand,
  interpretCommandResult,
  runCommand,
} from './sentinel.ts';

const result = (r: Partial<CommandResult>): CommandResult => ({
  code: null,
  signal: null,
  spawnError: undefined,
  timedOut: false,
  stderr: '',
  ...r,
});

describe('interpretCommandResult', () => {
  it.each<[string, Partial<CommandResult>, string, RegExp]>([
    ['exit 0', { code: 0 }, 'True', /exited 0/],
    ['exit 1', { code: 1 }, 'False', /exited 1/],
    ['exit 2', { code: 2, stderr: 'boom\n' }, 'Unknown', /exited 2 \(boom\)/],
    ['exit 127', { code: 127 }, 'Unknown', /command not found/],
    ['exit 126', { code: 126 }, 'Unknown', /not executable/],
    ['exit 255', { code: 255 }, 'Unknown', /exited 255/],
    ['a signal', { signal: 'SIGSEGV' }, 'Unknown', /killed by SIGSEGV/],
    ['a timeout', { timedOut: true, signal: 'SIGKILL' }, 'Unknown', /timed out/],
    ['no such program', { spawnError: 'ENOENT' }, 'Unknown', /could not be started \(ENOENT\)/],
    [
      'nsenter failing with 1',
      { code: 1, stderr: 'nsenter: cannot open /proc/1/ns/mnt: Permission denied\n' },
      'Unknown',
      /could not enter the host/,
    ],
  ])('%s → %s', (_what, r, status, message) => {
    const reading = interpretCommandResult('needs-restarting -r', result(r));
    expect(reading.status).toBe(status);
    expect(reading.message).toMatch(message);
    expect(reading.reason).toBe(
      status === 'True' ? 'SentinelCommandSaysReboot' : status === 'False' ? 'NoSentinel' : 'SentinelError',
    );
  });
});

describe('hostCommand', () => {
  it('enters PID 1 mount namespace unless told the agent runs on the host', () => {
    expect(hostCommand(['systemctl', 'reboot'], true)).toEqual([
      'nsenter',
      '-m/proc/1/ns/mnt',
      '--',
      'systemctl',
      'reboot',
    ]);
    expect(hostCommand(['systemctl', 'reboot'], false)).toEqual(['systemctl', 'reboot']);
  });
});

describe('sentinels on a real filesystem and real processes', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'baton-sentinel-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('file: present → True, absent → False', async () => {
    const s = fileSentinel(join(dir, 'reboot-required'));
    expect((await s.check()).status).toBe('False');
    await writeFile(join(dir, 'reboot-required'), '');
    expect(await s.check()).toMatchObject({ status: 'True', reason: 'SentinelPresent' });
    await rm(join(dir, 'reboot-required'));
    expect((await s.check()).status).toBe('False');
  });

  it('file: a directory that is not there is Unknown with a hint about the mount', async () => {
    const reading = await fileSentinel(join(dir, 'no-such-dir', 'reboot-required')).check();
    expect(reading).toMatchObject({ status: 'Unknown', reason: 'SentinelError' });
    expect(reading.message).toMatch(/is the host directory mounted/);
  });

  it('file: a path through a file (ENOTDIR) is Unknown, not "no reboot"', async () => {
    await writeFile(join(dir, 'plain'), '');
    const reading = await fileSentinel(join(dir, 'plain', 'reboot-required')).check();
    expect(reading).toMatchObject({ status: 'Unknown', message: expect.stringContaining('ENOTDIR') });
  });

  it('command: real exit codes, a missing program and a timeout', async () => {
    const script = join(dir, 'check.sh');
    await writeFile(script, '#!/bin/sh\nexit "$1"\n');
    await chmod(script, 0o755);
    const run = (args: string[], timeoutMs = 5000) =>
      commandSentinel(args, { hostMountNamespace: false, timeoutMs }).check();
    expect((await run([script, '0'])).status).toBe('True');
    expect((await run([script, '1'])).status).toBe('False');
    expect(await run([script, '3'])).toMatchObject({
      status: 'Unknown',
      message: expect.stringContaining('exited 3'),
    });
    expect(await run([join(dir, 'missing')])).toMatchObject({
      status: 'Unknown',
      message: expect.stringContaining('ENOENT'),
    });
    expect(await run(['sh', '-c', 'exit 127'])).toMatchObject({
      status: 'Unknown',
      message: expect.stringContaining('command not found'),
    });
    expect(await run(['sleep', '5'], 200)).toMatchObject({
      status: 'Unknown',
      message: expect.stringContaining('timed out'),
    });
  });

  it('runCommand never throws on an empty command', async () => {
    expect((await runCommand([], 1000)).spawnError).toBe('empty command');
  });
});
