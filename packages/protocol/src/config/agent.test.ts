import { describe, expect, it } from 'vitest';
import { agentOptions, parseAgentConfig } from './agent.ts';
import { ConfigError } from './errors.ts';
import { describeOptions, type OptionInput, type OptionTable } from './flags.ts';
import { KURED_FLAGS, kuredFlagHints } from './kured.ts';

/** The chart sets NODE_NAME from the downward API; most tests start from there. */
const NODE = { NODE_NAME: 'worker-1' };

function parse(argv: readonly string[], env: OptionInput['env'] = NODE) {
  return parseAgentConfig({ argv, env });
}

function errorOf(argv: readonly string[], env: OptionInput['env'] = NODE): ConfigError {
  try {
    parse(argv, env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('parseAgentConfig: valid input', () => {
  it('needs only the node name', () => {
    expect(parse([])).toEqual({
      nodeId: 'worker-1',
      namespace: 'baton',
      rebootSentinel: '/var/run/reboot-required',
      rebootSentinelCommand: undefined,
      sentinelPollInterval: 1_000,
      heartbeatInterval: 300_000,
      drainGracePeriod: -1,
      drainTimeout: 1_800_000,
      drainTimeoutPolicy: 'abort',
      forceReboot: false,
      skipWaitForDeleteTimeout: 0,
      drainPodSelector: undefined,
      drainDelay: 0,
      deleteEmptydirData: true,
      evictUnmanagedPods: true,
      evictionRetryBackoff: 5_000,
      rebootMethod: 'command',
      rebootCommand: ['/bin/systemctl', 'reboot'],
      rebootSignal: 39,
      rebootDelay: 0,
      shutdownGrace: 600_000,
      hostMountNamespace: true,
      maxRebootAttempts: 3,
      preRebootNodeLabels: [],
      postRebootNodeLabels: [],
      preRebootTaint: undefined,
      annotateNodes: false,
      preferNoScheduleTaint: undefined,
      metricsHost: '0.0.0.0',
      metricsPort: 8081,
      logFormat: 'json',
      logLevel: 'info',
      kubeconfig: undefined,
    });
  });

  it('reads the node name from BATON_NODE_ID, KURED_NODE_ID or NODE_NAME, flag first', () => {
    expect(parse([], { KURED_NODE_ID: 'kured-node' }).nodeId).toBe('kured-node');
    expect(parse([], { KURED_NODE_ID: 'kured-node', NODE_NAME: 'other' }).nodeId).toBe('kured-node');
    expect(parse([], { BATON_NODE_ID: 'baton-node', KURED_NODE_ID: 'kured-node' }).nodeId).toBe('baton-node');
    expect(parse(['--node-id=flag-node'], { BATON_NODE_ID: 'baton-node' }).nodeId).toBe('flag-node');
    expect(parse(['--node-id', 'ip-10-0-0-1.ec2.internal'], {}).nodeId).toBe('ip-10-0-0-1.ec2.internal');
  });

  it('parses a full configuration', () => {
    const config = parse([
      '--namespace=kube-system',
      '--reboot-sentinel-command=sh -c "needs-restarting --reboothint >/dev/null; test $? -eq 1"',
      '--sentinel-poll-interval=30s',
      '--drain-grace-period=60',
      '--drain-timeout=0',
      '--skip-wait-for-delete-timeout=300',
      '--drain-pod-selector=app!=ingress',
      '--drain-delay=30s',
      '--delete-emptydir-data=false',
      '--evict-unmanaged-pods=false',
      '--eviction-retry-backoff=10s',
      '--reboot-method=signal',
      '--reboot-signal=40',
      '--reboot-delay=1m',
      '--pre-reboot-node-labels=example.com/ready=false,zalando.org/role=standby',
      '--pre-reboot-node-labels=maintenance=',
      '--post-reboot-node-labels=example.com/ready=true',
      '--pre-reboot-taint=example.com/draining=true:PreferNoSchedule',
      '--max-reboot-attempts=5',
      '--metrics-port=9101',
      '--log-level=debug',
    ]);
    expect(config.rebootSentinelCommand).toEqual([
      'sh',
      '-c',
      'needs-restarting --reboothint >/dev/null; test $? -eq 1',
    ]);
    expect(config.drainTimeout).toBe(0);
    expect(config.skipWaitForDeleteTimeout).toBe(300_000);
    expect(config.drainPodSelector).toEqual([{ key: 'app', operator: 'NotIn', values: ['ingress'] }]);
    expect(config.deleteEmptydirData).toBe(false);
    expect(config.rebootMethod).toBe('signal');
    expect(config.rebootSignal).toBe(40);
    expect(config.preRebootNodeLabels).toEqual([
      { key: 'example.com/ready', value: 'false' },
      { key: 'zalando.org/role', value: 'standby' },
      { key: 'maintenance', value: '' },
    ]);
    expect(config.postRebootNodeLabels).toEqual([{ key: 'example.com/ready', value: 'true' }]);
    expect(config.preRebootTaint).toEqual({
      key: 'example.com/draining',
      value: 'true',
      effect: 'PreferNoSchedule',
    });
  });

  it('reads skip-wait-for-delete-timeout as seconds or as a duration', () => {
    expect(parse(['--skip-wait-for-delete-timeout=30']).skipWaitForDeleteTimeout).toBe(30_000);
    expect(parse(['--skip-wait-for-delete-timeout=2m']).skipWaitForDeleteTimeout).toBe(120_000);
  });

  it('makes --force-reboot the force policy', () => {
    expect(parse(['--force-reboot']).drainTimeoutPolicy).toBe('force');
    expect(parse(['--force-reboot=false']).drainTimeoutPolicy).toBe('abort');
    expect(parse(['--drain-timeout-policy=force']).drainTimeoutPolicy).toBe('force');
    expect(parse(['--force-reboot', '--drain-timeout-policy=force']).drainTimeoutPolicy).toBe('force');
    // kured's variable for it, as kured reads it.
    expect(parse([], { ...NODE, KURED_FORCE_REBOOT: 'true' }).drainTimeoutPolicy).toBe('force');
  });

  it('is deeply frozen', () => {
    const config = parse([
      '--pre-reboot-node-labels=a=b',
      '--pre-reboot-taint=a:NoSchedule',
      '--drain-pod-selector=x in (y,z)',
    ]);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.rebootCommand)).toBe(true);
    expect(Object.isFrozen(config.preRebootNodeLabels[0])).toBe(true);
    expect(Object.isFrozen(config.preRebootTaint)).toBe(true);
    expect(Object.isFrozen(config.drainPodSelector?.[0]?.values)).toBe(true);
    expect(() => {
      (config as { nodeId: string }).nodeId = 'other';
    }).toThrow(TypeError);
    expect(() => {
      (config.rebootCommand as string[])[0] = '/bin/true';
    }).toThrow(TypeError);
  });
});

describe('parseAgentConfig: every invalid value names the flag, the value and the expected form', () => {
  it.each([
    [
      'missing node id',
      [],
      {},
      '--node-id is required (set from the downward API spec.nodeName)',
      '',
      'a node name',
    ],
    [
      'empty NODE_NAME counts as unset',
      [],
      { NODE_NAME: '' },
      '--node-id is required',
      'KURED_NODE_ID',
      'a node name',
    ],
    ['bad node id', ['--node-id=Worker_1'], {}, '--node-id', 'Worker_1', 'a node name (a DNS subdomain'],
    ['bad KURED_NODE_ID', [], { KURED_NODE_ID: 'a..b' }, 'env KURED_NODE_ID', 'a..b', 'a node name'],
    [
      'relative sentinel',
      ['--reboot-sentinel=reboot-required'],
      NODE,
      '--reboot-sentinel',
      'reboot-required',
      'an absolute file path',
    ],
    [
      'empty sentinel command',
      ['--reboot-sentinel-command='],
      NODE,
      '--reboot-sentinel-command',
      '',
      'the command is empty',
    ],
    [
      'unterminated quote',
      ["--reboot-command=sh -c 'reboot"],
      NODE,
      '--reboot-command',
      "sh -c 'reboot",
      "unterminated ' quote",
    ],
    [
      'empty reboot command',
      ['--reboot-command', ''],
      NODE,
      '--reboot-command',
      '',
      'a command such as "/bin/systemctl reboot"',
    ],
    [
      'bad duration',
      ['--drain-timeout=10x'],
      NODE,
      '--drain-timeout',
      '10x',
      'a duration of at most 24h, such as 30s, 5m or 1h30m',
    ],
    [
      'zero poll interval',
      ['--sentinel-poll-interval=0'],
      NODE,
      '--sentinel-poll-interval',
      '0',
      'a duration greater than 0',
    ],
    [
      'grace period below -1',
      ['--drain-grace-period=-2'],
      NODE,
      '--drain-grace-period',
      '-2',
      "an integer of seconds from 0 to 86400 (24h), or -1 for each pod's own grace period",
    ],
    [
      'bad policy',
      ['--drain-timeout-policy=ignore'],
      NODE,
      '--drain-timeout-policy',
      'ignore',
      'abort or force',
    ],
    ['bad boolean', ['--force-reboot=sure'], NODE, '--force-reboot', 'sure', 'true or false'],
    [
      'negative skip-wait',
      ['--skip-wait-for-delete-timeout=-5'],
      NODE,
      '--skip-wait-for-delete-timeout',
      '-5',
      'or a whole number of seconds',
    ],
    [
      'bad drain selector',
      ['--drain-pod-selector=app=a b'],
      NODE,
      '--drain-pod-selector',
      'app=a b',
      'a label selector such as',
    ],
    ['bad method', ['--reboot-method=kexec'], NODE, '--reboot-method', 'kexec', 'command or signal'],
    [
      'signal out of range',
      ['--reboot-method=signal', '--reboot-signal=65'],
      NODE,
      '--reboot-signal',
      '65',
      'a signal number from 1 to 64',
    ],
    [
      'label without =',
      ['--pre-reboot-node-labels=a=b,c'],
      NODE,
      '--pre-reboot-node-labels',
      '"c"',
      '"=" is missing between key and value',
    ],
    [
      'bad label key',
      ['--post-reboot-node-labels=Bad.Prefix/x=1'],
      NODE,
      '--post-reboot-node-labels',
      'Bad.Prefix/x=1',
      'node labels such as',
    ],
    [
      'bad taint effect',
      ['--pre-reboot-taint=a=b:Never'],
      NODE,
      '--pre-reboot-taint',
      'a=b:Never',
      'effect NoSchedule, PreferNoSchedule or NoExecute',
    ],
    [
      'zero attempts',
      ['--max-reboot-attempts=0'],
      NODE,
      '--max-reboot-attempts',
      '0',
      'an integer from 1 to 100',
    ],
    ['bad port', ['--metrics-port=0'], NODE, '--metrics-port', '0', 'a port number from 1 to 65535'],
    [
      'unknown flag',
      ['--drain-timout=5m'],
      NODE,
      '--drain-timout',
      'unknown flag --drain-timout;',
      'did you mean --drain-timeout?',
    ],
    [
      'unknown BATON_ variable',
      [],
      { ...NODE, BATON_REBOOT_SENTINAL: '/x' },
      'env BATON_REBOOT_SENTINAL',
      'BATON_REBOOT_SENTINAL',
      'did you mean BATON_REBOOT_SENTINEL?',
    ],
    [
      'repeated single flag',
      ['--reboot-delay=1m', '--reboot-delay=2m'],
      NODE,
      '--reboot-delay',
      '"1m"',
      'takes one value',
    ],
    ['missing value', ['--reboot-command'], NODE, '--reboot-command', 'missing value', 'a command such as'],
    [
      'kured flag of the controller',
      ['--period=1h'],
      NODE,
      '--period',
      'unknown flag --period:',
      'is an option of baton-controller, not of baton-agent',
    ],
    [
      'kured flag baton dropped',
      ['--lock-ttl=30m'],
      NODE,
      '--lock-ttl',
      'lock-ttl',
      'grants are Leases renewed while the reboot progresses',
    ],
  ] as const)('%s', (_what, argv, env, source, value, expected) => {
    const error = errorOf(argv, env);
    const line = error.message
      .split('\n')
      .find((l) => l.includes(source) && l.includes(value) && l.includes(expected));
    expect(line, error.message).toBeDefined();
  });
});

describe('parseAgentConfig: combinations', () => {
  it.each([
    [
      'sentinel command and sentinel file',
      ['--reboot-sentinel-command=needs-restarting -r', '--reboot-sentinel=/var/run/reboot-required'],
      NODE,
      '--reboot-sentinel-command="needs-restarting -r" conflicts with --reboot-sentinel="/var/run/reboot-required": expected either a sentinel command or a sentinel file, not both',
    ],
    [
      'sentinel file from the environment and a command',
      ['--reboot-sentinel-command=needs-restarting -r'],
      { ...NODE, BATON_REBOOT_SENTINEL: '/run/x' },
      '--reboot-sentinel-command="needs-restarting -r" conflicts with env BATON_REBOOT_SENTINEL="/run/x": expected either a sentinel command or a sentinel file, not both',
    ],
    [
      'force-reboot with the abort policy',
      ['--force-reboot', '--drain-timeout-policy=abort'],
      NODE,
      '--force-reboot="true" conflicts with --drain-timeout-policy="abort": expected --force-reboot=true with --drain-timeout-policy=force, or only one of them',
    ],
    [
      'force-reboot=false with the force policy',
      ['--force-reboot=false', '--drain-timeout-policy=force'],
      NODE,
      '--force-reboot="false" conflicts with --drain-timeout-policy="force": expected --force-reboot=true with --drain-timeout-policy=force, or only one of them',
    ],
    [
      'force without a drain timeout',
      ['--force-reboot', '--drain-timeout=0'],
      NODE,
      '--force-reboot="true" conflicts with --drain-timeout="0": expected a --drain-timeout greater than 0 for a forced reboot to ever happen',
    ],
    [
      'eviction retry backoff not below the drain timeout',
      ['--eviction-retry-backoff=30m'],
      NODE,
      '--eviction-retry-backoff="30m" conflicts with default of --drain-timeout="30m": expected an eviction retry backoff shorter than the drain timeout (or --drain-timeout=0)',
    ],
    [
      'drain timeout not above the eviction retry backoff',
      ['--drain-timeout=3s'],
      NODE,
      '--drain-timeout="3s" conflicts with default of --eviction-retry-backoff="5s": expected an eviction retry backoff shorter than the drain timeout (or --drain-timeout=0)',
    ],
    [
      'reboot command with the signal method',
      ['--reboot-method=signal', '--reboot-command=/sbin/reboot'],
      NODE,
      '--reboot-command="/sbin/reboot" conflicts with --reboot-method="signal": expected --reboot-command only with --reboot-method=command',
    ],
    [
      'reboot signal with the command method',
      ['--reboot-signal=15'],
      NODE,
      '--reboot-signal="15" conflicts with default of --reboot-method="command": expected --reboot-signal only with --reboot-method=signal',
    ],
    [
      'a label key twice',
      ['--pre-reboot-node-labels=a=1,b=2', '--pre-reboot-node-labels=a=3'],
      NODE,
      '--pre-reboot-node-labels: invalid value "a": expected each label key once (label "a" is given twice)',
    ],
    [
      "baton's own taint",
      ['--pre-reboot-taint=baton.dev/rebooting:NoSchedule'],
      NODE,
      '--pre-reboot-taint: invalid value "baton.dev/rebooting:NoSchedule": expected a taint key other than baton\'s own (baton.dev/rebooting is set by the agent itself)',
    ],
  ] as const)('%s', (_what, argv, env, line) => {
    expect(errorOf(argv, env).message.split('\n')).toContain(line);
  });

  it('prints the README example exactly', () => {
    expect(errorOf(['--drain-timeout=10x']).message).toBe(
      '--drain-timeout: invalid value "10x": expected a duration of at most 24h, such as 30s, 5m or 1h30m',
    );
  });

  it('accepts a sentinel command with the default sentinel file', () => {
    expect(parse(['--reboot-sentinel-command=needs-restarting -r']).rebootSentinelCommand).toEqual([
      'needs-restarting',
      '-r',
    ]);
  });

  it('reports every problem at once, the missing node name included', () => {
    const error = errorOf(['--drain-timeout=forever', '--reboot-signal=99', '--reboot-days=mo'], {});
    expect(error.issues.map((issue) => issue.source)).toEqual([
      '--reboot-days',
      '--node-id',
      '--drain-timeout',
      '--reboot-signal',
      '--reboot-signal',
    ]);
  });
});

describe('agent reference', () => {
  it('explains the sentinel path', () => {
    const row = describeOptions(agentOptions).find((r) => r.flag === '--reboot-sentinel');
    expect(row?.description).toContain('INSIDE the agent container');
    expect(row?.description).toContain('/host/var/run/reboot-required');
    expect(row?.kured).toBe('--reboot-sentinel');
  });

  it('documents node-id as required with its variables', () => {
    const row = describeOptions(agentOptions).find((r) => r.flag === '--node-id');
    expect(row?.required).toBe('set from the downward API spec.nodeName');
    expect(row?.env).toEqual(['BATON_NODE_ID', 'KURED_NODE_ID', 'NODE_NAME']);
    expect(row?.default).toBeUndefined();
  });

  it('places every kured flag the agent takes, and hints at the others', () => {
    const known = new Set((agentOptions as OptionTable).flatMap((def) => [def.name, ...(def.aliases ?? [])]));
    const hints = kuredFlagHints('agent');
    for (const [flag, fate] of Object.entries(KURED_FLAGS)) {
      if (fate.home === 'agent' || fate.home === 'both') expect(known.has(flag), flag).toBe(true);
      else expect(hints[flag], flag).toBeDefined();
    }
    for (const def of agentOptions as OptionTable) {
      if (def.kuredFlag !== undefined) expect(['agent', 'both']).toContain(KURED_FLAGS[def.kuredFlag]?.home);
    }
  });
});

describe("kured's KURED_ variables (agent)", () => {
  it("reads the agent's kured flags from KURED_<FLAG>, and refuses the controller's with where they went", () => {
    expect(parse([], { ...NODE, KURED_REBOOT_SENTINEL: '/sentinel/reboot-required' }).rebootSentinel).toBe(
      '/sentinel/reboot-required',
    );
    expect(() => parse([], { ...NODE, KURED_PERIOD: '1h' })).toThrow(
      "env KURED_PERIOD: kured's --period is an option of baton-controller, not of baton-agent",
    );
  });
});
