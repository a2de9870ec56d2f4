import { describe, expect, expectTypeOf, it } from 'vitest';
import { agentOptions } from './agent.ts';
import { controllerOptions } from './controller.ts';
import { ConfigError } from './errors.ts';
import {
  type CamelCase,
  camelCase,
  checkOptionDefaults,
  collectOptions,
  deepFreeze,
  defineOptions,
  describeOptions,
  editDistance,
  envName,
  isHelpRequest,
  isServiceLinkVariable,
  type OptionInput,
  parseOptions,
} from './flags.ts';
import { type LabelSelector, labelSelector } from './labels.ts';
import { duration, type RebootWindow, rebootWindow } from './time.ts';
import { integer, nonEmptyString, notifyUrl, oneOf, path } from './values.ts';

const table = defineOptions([
  {
    name: 'drain-timeout',
    kind: 'single',
    ...duration,
    default: '30m',
    description: 'd',
    aliases: ['old-timeout'],
  },
  {
    name: 'node-id',
    kind: 'single',
    ...nonEmptyString,
    required: 'from the downward API',
    env: ['KURED_NODE_ID', 'NODE_NAME'],
    description: 'n',
  },
  { name: 'kubeconfig', kind: 'single', ...path, env: ['KUBECONFIG'], description: 'k' },
  {
    name: 'concurrency',
    kind: 'single',
    ...integer({ min: 1, max: 1000 }),
    default: '1',
    description: 'c',
    kuredFlag: 'concurrency',
  },
  { name: 'mode', kind: 'single', ...oneOf(['a', 'b']), default: 'a', description: 'm' },
  { name: 'leader-elect', kind: 'boolean', default: true, description: 'l' },
  { name: 'dry-run', kind: 'boolean', description: 'r' },
  { name: 'selector', kind: 'repeatable', ...labelSelector, description: 's' },
  { name: 'window', kind: 'repeatable', ...rebootWindow, description: 'w' },
  {
    name: 'tag',
    kind: 'repeatable',
    ...nonEmptyString,
    separator: ',',
    default: ['x', 'y'],
    description: 't',
  },
  { name: 'hook', kind: 'repeatable', ...notifyUrl, sensitive: true, description: 'h' },
]);

const BASE_ENV = { NODE_NAME: 'node-1' };

function parse(argv: readonly string[], env: OptionInput['env'] = BASE_ENV) {
  return parseOptions(table, { argv, env });
}

function errorOf(argv: readonly string[], env: OptionInput['env'] = BASE_ENV): ConfigError {
  try {
    parse(argv, env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('names', () => {
  it('derives env names and camelCase keys', () => {
    expect(envName('drain-timeout')).toBe('BATON_DRAIN_TIMEOUT');
    expect(envName('leader-election-lease-duration')).toBe('BATON_LEADER_ELECTION_LEASE_DURATION');
    expect(camelCase('leader-election-lease-duration')).toBe('leaderElectionLeaseDuration');
    expect(camelCase('metrics-port')).toBe('metricsPort');
    expectTypeOf<
      CamelCase<'leader-election-lease-duration'>
    >().toEqualTypeOf<'leaderElectionLeaseDuration'>();
  });

  it('recognises a request for help', () => {
    expect(isHelpRequest(['--node-id=x', '--help'])).toBe(true);
    expect(isHelpRequest(['-h'])).toBe(true);
    expect(isHelpRequest(['--helpful=1'])).toBe(false);
  });

  it('measures edit distance', () => {
    expect(editDistance('', '')).toBe(0);
    expect(editDistance('period', 'period')).toBe(0);
    expect(editDistance('perod', 'period')).toBe(1);
    expect(editDistance('drain-timout', 'drain-timeout')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
  });
});

describe('types', () => {
  it('infers the result type from the table', () => {
    const values = parse([]);
    expectTypeOf(values.drainTimeout).toEqualTypeOf<number>();
    expectTypeOf(values.nodeId).toEqualTypeOf<string>();
    expectTypeOf(values.kubeconfig).toEqualTypeOf<string | undefined>();
    expectTypeOf(values.mode).toEqualTypeOf<'a' | 'b'>();
    expectTypeOf(values.leaderElect).toEqualTypeOf<boolean>();
    expectTypeOf(values.dryRun).toEqualTypeOf<boolean>();
    expectTypeOf(values.selector).toEqualTypeOf<readonly LabelSelector[]>();
    expectTypeOf(values.window).toEqualTypeOf<readonly RebootWindow[]>();
    expectTypeOf(values.tag).toEqualTypeOf<readonly string[]>();
    // @ts-expect-error: keys come from the table only.
    expect(values.unknownOption).toBeUndefined();
  });
});

describe('syntax', () => {
  it.each([
    [['--drain-timeout=10m'], 600_000],
    [['--drain-timeout', '10m'], 600_000],
    [['--old-timeout=1h'], 3_600_000],
    [['--drain-timeout='], undefined],
  ])('%j', (argv, ms) => {
    if (ms === undefined) expect(() => parse(argv)).toThrow(ConfigError);
    else expect(parse(argv).drainTimeout).toBe(ms);
  });

  it('reads booleans with and without a value', () => {
    expect(parse([]).leaderElect).toBe(true);
    expect(parse([]).dryRun).toBe(false);
    expect(parse(['--dry-run']).dryRun).toBe(true);
    expect(parse(['--leader-elect=false']).leaderElect).toBe(false);
    expect(parse(['--leader-elect=0']).leaderElect).toBe(false);
    expect(parse(['--leader-elect=NO']).leaderElect).toBe(false);
    expect(parse(['--dry-run=yes']).dryRun).toBe(true);
  });

  it('takes a value that starts with a single dash', () => {
    const table2 = defineOptions([
      { name: 'grace', kind: 'single', ...integer({ min: -1, max: 10 }), description: 'g' },
    ]);
    expect(parseOptions(table2, { argv: ['--grace', '-1'], env: {} }).grace).toBe(-1);
  });

  it('keeps every repetition of a repeatable flag as one value', () => {
    const values = parse([
      '--selector=app=web,tier!=cache',
      '--selector',
      'backup',
      '--window=mo-fr 22:00-04:00',
    ]);
    expect(values.selector).toEqual([
      [
        { key: 'app', operator: 'In', values: ['web'] },
        { key: 'tier', operator: 'NotIn', values: ['cache'] },
      ],
      [{ key: 'backup', operator: 'Exists', values: [] }],
    ]);
    expect(values.window).toEqual([{ days: [1, 2, 3, 4, 5], startSeconds: 79_200, endSeconds: 14_400 }]);
  });

  it('splits only options that have a separator', () => {
    expect(parse([]).tag).toEqual(['x', 'y']);
    expect(parse(['--tag=a,b', '--tag', 'c']).tag).toEqual(['a', 'b', 'c']);
    expect(parse(['--window=sa,su 0:00-23:59:59']).window).toHaveLength(1);
  });
});

describe('precedence: flag > environment > default', () => {
  it.each([
    [[], {}, 1_800_000],
    [[], { BATON_DRAIN_TIMEOUT: '5m' }, 300_000],
    [['--drain-timeout=1m'], { BATON_DRAIN_TIMEOUT: '5m' }, 60_000],
    [['--old-timeout=2m'], { BATON_DRAIN_TIMEOUT: '5m' }, 120_000],
    [[], { BATON_DRAIN_TIMEOUT: '' }, 1_800_000],
  ])('argv %j, env %j → %j', (argv, env, ms) => {
    expect(parse(argv, { ...BASE_ENV, ...env }).drainTimeout).toBe(ms);
  });

  it('reads extra env names after BATON_<NAME>, in order, skipping empty ones', () => {
    expect(parse([], { NODE_NAME: 'c' }).nodeId).toBe('c');
    expect(parse([], { KURED_NODE_ID: 'b', NODE_NAME: 'c' }).nodeId).toBe('b');
    expect(parse([], { BATON_NODE_ID: 'a', KURED_NODE_ID: 'b', NODE_NAME: 'c' }).nodeId).toBe('a');
    expect(parse([], { BATON_NODE_ID: '', KURED_NODE_ID: 'b' }).nodeId).toBe('b');
    expect(parse(['--node-id=z'], { BATON_NODE_ID: 'a' }).nodeId).toBe('z');
    expect(parse([], { ...BASE_ENV, KUBECONFIG: '/k' }).kubeconfig).toBe('/k');
  });

  it('splits repeatable env values on newlines, and lets flags replace them', () => {
    const env = { ...BASE_ENV, BATON_SELECTOR: 'app=web,tier=x\n\n  backup  \n', BATON_TAG: 'a,b\nc' };
    expect(parse([], env).selector).toHaveLength(2);
    expect(parse([], env).tag).toEqual(['a', 'b', 'c']);
    expect(parse(['--selector=other'], env).selector).toEqual([
      [{ key: 'other', operator: 'Exists', values: [] }],
    ]);
  });

  it('records where each value came from', () => {
    const collected = collectOptions(table, {
      argv: ['--old-timeout=1m'],
      env: { KURED_NODE_ID: 'n', BATON_CONCURRENCY: '3' },
    });
    expect(collected.issues).toEqual([]);
    expect(collected.origins.drainTimeout).toEqual({ kind: 'flag', source: '--old-timeout', value: '1m' });
    expect(collected.origins.nodeId).toEqual({ kind: 'env', source: 'env KURED_NODE_ID', value: 'n' });
    expect(collected.origins.concurrency).toEqual({
      kind: 'env',
      source: 'env BATON_CONCURRENCY',
      value: '3',
    });
    expect(collected.origins.mode).toEqual({ kind: 'default', source: 'default of --mode', value: 'a' });
  });
});

describe('errors', () => {
  it.each([
    {
      what: 'invalid value',
      argv: ['--drain-timeout=10x'],
      env: {},
      line: '--drain-timeout: invalid value "10x": expected a duration such as 30s, 5m or 1h30m',
    },
    {
      what: 'invalid value with a reason',
      argv: ['--drain-timeout', '2d'],
      env: {},
      line: '--drain-timeout: invalid value "2d": expected a duration such as 30s, 5m or 1h30m ("d" (days) is not a unit here: write 24h for a day)',
    },
    {
      what: 'invalid env value',
      argv: [],
      env: { BATON_CONCURRENCY: '-2' },
      line: 'env BATON_CONCURRENCY: invalid value "-2": expected an integer from 1 to 1000 (negative values are not allowed here)',
    },
    {
      what: 'invalid value through an alias',
      argv: ['--old-timeout=soon'],
      env: {},
      line: '--old-timeout: invalid value "soon": expected a duration such as 30s, 5m or 1h30m',
    },
    {
      what: 'invalid boolean',
      argv: ['--dry-run=maybe'],
      env: {},
      line: '--dry-run: invalid value "maybe": expected true or false (also 1/0, yes/no)',
    },
    {
      what: 'unknown flag with a suggestion',
      argv: ['--drain-timout=10m'],
      env: {},
      line: 'unknown flag --drain-timout; did you mean --drain-timeout?',
    },
    {
      what: 'unknown flag without a suggestion',
      argv: ['--frobnicate'],
      env: {},
      line: 'unknown flag --frobnicate',
    },
    {
      what: 'unknown BATON_ variable',
      argv: [],
      env: { BATON_DRAIN_TIMOUT: '10m' },
      line: 'env BATON_DRAIN_TIMOUT: unknown variable; did you mean BATON_DRAIN_TIMEOUT?',
    },
    {
      what: 'unknown BATON_ variable without a suggestion',
      argv: [],
      env: { BATON_WHATEVER: '1' },
      line: 'env BATON_WHATEVER: unknown variable; no option has this name',
    },
    {
      what: 'a BATON_ variable ending in _PORT without a service link value',
      argv: [],
      env: { BATON_CONCURENCY_PORT: '8080' },
      line: 'env BATON_CONCURENCY_PORT: unknown variable; no option has this name',
    },
    {
      what: 'single flag given twice',
      argv: ['--drain-timeout=1m', '--old-timeout=2m'],
      env: {},
      line: '--drain-timeout given more than once (--drain-timeout="1m", --old-timeout="2m") but takes one value: expected a duration such as 30s, 5m or 1h30m',
    },
    {
      what: 'boolean given twice',
      argv: ['--dry-run', '--dry-run=false'],
      env: {},
      line: '--dry-run given more than once (--dry-run="true", --dry-run="false") but takes one value: expected true or false (also 1/0, yes/no)',
    },
    {
      what: 'missing value at the end',
      argv: ['--drain-timeout'],
      env: {},
      line: '--drain-timeout: missing value: expected a duration such as 30s, 5m or 1h30m',
    },
    {
      what: 'missing value before another flag',
      argv: ['--concurrency', '--dry-run'],
      env: {},
      line: '--concurrency: missing value: expected an integer from 1 to 1000',
    },
    {
      what: 'positional argument',
      argv: ['reboot'],
      env: {},
      line: 'unexpected argument "reboot": expected options written as --name=value',
    },
    {
      what: 'separate value after a boolean',
      argv: ['--leader-elect', 'false'],
      env: {},
      line: 'unexpected argument "false" (--leader-elect takes no separate value: write --leader-elect=false): expected options written as --name=value',
    },
    {
      what: 'single dash',
      argv: ['-v'],
      env: {},
      line: 'unexpected argument "-v" (flags start with two dashes): expected options written as --name=value',
    },
    {
      what: 'double dash',
      argv: ['--'],
      env: {},
      line: 'unexpected argument "--": expected options written as --name=value',
    },
    {
      what: 'missing required option',
      argv: [],
      env: { NODE_NAME: '' },
      line: '--node-id is required (from the downward API); it can also come from BATON_NODE_ID, KURED_NODE_ID, NODE_NAME: expected a non-empty string',
    },
    {
      what: 'bad item of a repeatable option',
      argv: ['--selector=app=web', '--selector=app in ('],
      env: {},
      line: '--selector: invalid value "app in (": expected a label selector such as app=web,tier!=cache or "app in (web,api)" (expected a value in the list, found the end)',
    },
    {
      what: 'empty item of a split option',
      argv: ['--tag=a,,b'],
      env: {},
      line: '--tag: invalid value "": expected a non-empty string (it is empty)',
    },
  ])('$what', ({ argv, env, line }) => {
    const error = errorOf(argv, { ...BASE_ENV, ...env });
    expect(error.message.split('\n')).toContain(line);
    expect(error.issues.some((issue) => issue.message === line)).toBe(true);
  });

  it('does not take the value of an unknown flag for a positional argument', () => {
    const error = errorOf(['--frobnicate', 'yes', '--drain-timeout=1m']);
    expect(error.issues).toHaveLength(1);
  });

  it('names source, value and expected form in every issue', () => {
    const error = errorOf(['--drain-timeout=10x'], { ...BASE_ENV, BATON_CONCURRENCY: 'many' });
    expect(error.issues).toEqual([
      {
        source: '--drain-timeout',
        value: '10x',
        expected: 'a duration such as 30s, 5m or 1h30m',
        message: '--drain-timeout: invalid value "10x": expected a duration such as 30s, 5m or 1h30m',
      },
      {
        source: 'env BATON_CONCURRENCY',
        value: 'many',
        expected: 'an integer from 1 to 1000',
        message: 'env BATON_CONCURRENCY: invalid value "many": expected an integer from 1 to 1000',
      },
    ]);
    expect(error.name).toBe('ConfigError');
    expect(error).toBeInstanceOf(Error);
    expect(Object.isFrozen(error.issues)).toBe(true);
  });

  it('reports every problem at once', () => {
    const error = errorOf(
      [
        '--drain-timeout=10x',
        '--concurrency=0',
        '--mode=c',
        'positional',
        '--frobnicate',
        '--dry-run',
        '--dry-run',
      ],
      { BATON_NODE_IDD: 'x', NODE_NAME: '' },
    );
    expect(error.issues.map((issue) => issue.source)).toEqual([
      'positional',
      '--frobnicate',
      '--drain-timeout',
      '--node-id',
      '--concurrency',
      '--mode',
      '--dry-run',
      'env BATON_NODE_IDD',
    ]);
    expect(error.message.split('\n')).toHaveLength(8);
  });

  it("ignores the kubelet's service links of a Service named baton-… (a release named baton)", () => {
    // What a kubelet gave the chart's agent in the real-node e2e, for baton-controller-metrics.
    const links = {
      BATON_CONTROLLER_METRICS_SERVICE_HOST: '10.96.12.7',
      BATON_CONTROLLER_METRICS_SERVICE_PORT: '8080',
      BATON_CONTROLLER_METRICS_SERVICE_PORT_METRICS: '8080',
      BATON_CONTROLLER_METRICS_PORT: 'tcp://10.96.12.7:8080',
      BATON_CONTROLLER_METRICS_PORT_8080_TCP: 'tcp://10.96.12.7:8080',
      BATON_CONTROLLER_METRICS_PORT_8080_TCP_PROTO: 'tcp',
      BATON_CONTROLLER_METRICS_PORT_8080_TCP_PORT: '8080',
      BATON_CONTROLLER_METRICS_PORT_8080_TCP_ADDR: '10.96.12.7',
    };
    expect(() => parse([], { ...BASE_ENV, ...links })).not.toThrow();
    for (const [name, value] of Object.entries(links))
      expect(isServiceLinkVariable(name, value), name).toBe(true);
    expect(isServiceLinkVariable('BATON_METRICS_PORT', '8080')).toBe(false);
    expect(isServiceLinkVariable('BATON_DRAIN_TIMOUT', '10m')).toBe(false);
  });

  it('ignores BATON_ variables of the development tooling, and variables of other programs', () => {
    expect(() =>
      parse([], { ...BASE_ENV, BATON_TOOLS_CACHE: '/x', BATON_CLUSTERS_DIR: '/y', HOME: '/root' }),
    ).not.toThrow();
  });

  it('redacts sensitive values', () => {
    const error = errorOf(['--hook=slack://tokenA/tokenB/tokenC']);
    expect(error.message).not.toContain('tokenA');
    expect(error.message).toContain(
      '--hook: invalid value "slack://…(redacted)": expected an http:// or https:// webhook URL',
    );
    expect(error.issues[0]?.value).toBe('slack://…(redacted)');
    const secretEnv = errorOf([], { ...BASE_ENV, BATON_HOOK: 'teams://secret@tenant' });
    expect(secretEnv.message).toContain('env BATON_HOOK: invalid value "teams://…(redacted)"');
    expect(secretEnv.message).not.toContain('secret');
    // Unknown variables are never echoed: nothing says they are not secret.
    const unknownEnv = errorOf([], { ...BASE_ENV, BATON_HOOKS: 'https://hooks.example.com/T0/B0/secret' });
    expect(unknownEnv.message).toBe('env BATON_HOOKS: unknown variable; did you mean BATON_HOOK?');
    expect(unknownEnv.issues[0]?.value).toBe('');
    // Nor the value of an unknown flag (a misspelt --hook), nor credentials in a stray argument.
    const unknownFlag = errorOf(['--hoook=https://hooks.example.com/T0/B0/secret']);
    expect(unknownFlag.message).toBe('unknown flag --hoook; did you mean --hook?');
    const stray = errorOf(['https://user:secret@example.com/?token=secret']);
    expect(stray.message).toBe(
      'unexpected argument "https://(redacted)@example.com/?token=(redacted)": expected options written as --name=value',
    );
  });

  it('never shows credentials in values that are not sensitive as a whole', () => {
    const error = errorOf(['--kubeconfig=', '--mode=https://user:secret@example.com/?api_key=secret']);
    expect(error.message).not.toContain('secret');
    expect(error.message).toContain(
      '--mode: invalid value "https://(redacted)@example.com/?api_key=(redacted)": expected a or b',
    );
  });

  it('accepts unknown-flag hints', () => {
    const error = (() => {
      try {
        parseOptions(
          table,
          { argv: ['--lock-ttl=1h'], env: BASE_ENV },
          { unknownFlagHints: { 'lock-ttl': 'grants are Leases' } },
        );
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toBe('unknown flag --lock-ttl: grants are Leases');
  });
});

describe('result', () => {
  it('is deeply frozen', () => {
    const values = parse(['--selector=app in (a,b)', '--window=mo 1:00-2:00']);
    expect(Object.isFrozen(values)).toBe(true);
    expect(Object.isFrozen(values.selector)).toBe(true);
    expect(Object.isFrozen(values.selector[0])).toBe(true);
    expect(Object.isFrozen(values.selector[0]?.[0]?.values)).toBe(true);
    expect(Object.isFrozen(values.window[0]?.days)).toBe(true);
    expect(() => {
      (values as { drainTimeout: number }).drainTimeout = 1;
    }).toThrow(TypeError);
    expect(() => {
      (values.tag as string[]).push('z');
    }).toThrow(TypeError);
  });

  it('deepFreeze handles cycles and regexps', () => {
    const cyclic: { self?: unknown; pattern: RegExp } = { pattern: /a/ };
    cyclic.self = cyclic;
    deepFreeze(cyclic);
    expect(Object.isFrozen(cyclic.pattern)).toBe(true);
    expect(cyclic.pattern.test('cat')).toBe(true);
    expect('cat'.replace(cyclic.pattern, 'o')).toBe('cot');
  });
});

describe('defineOptions', () => {
  it.each([
    [[{ name: 'Bad_Name', kind: 'boolean', description: '' }], 'option name "Bad_Name" is not kebab-case'],
    [
      [
        { name: 'a', kind: 'boolean', description: '' },
        { name: 'b', kind: 'boolean', aliases: ['a'], description: '' },
      ],
      'flag --a is defined twice',
    ],
    [
      [
        { name: 'a', kind: 'boolean', env: ['X'], description: '' },
        { name: 'b', kind: 'boolean', env: ['X'], description: '' },
      ],
      'environment variable X is defined twice',
    ],
  ] as const)('%#: %s', (definitions, message) => {
    expect(() => defineOptions(definitions)).toThrow(message);
  });
});

describe('checkOptionDefaults', () => {
  it('rejects a default that does not parse', () => {
    const bad = defineOptions([{ name: 'a', kind: 'single', ...duration, default: 'soon', description: '' }]);
    expect(() => checkOptionDefaults(bad)).toThrow('the default "soon" of --a does not parse');
  });

  it.each([
    ['agent', agentOptions],
    ['controller', controllerOptions],
  ] as const)('accepts every default of the %s table', (_name, options) => {
    expect(() => checkOptionDefaults(options)).not.toThrow();
  });
});

describe('describeOptions', () => {
  it('gives one row per option for the reference', () => {
    const rows = describeOptions(table);
    expect(rows.map((row) => row.flag)).toEqual(table.map((def) => `--${def.name}`));
    expect(rows[0]).toEqual({
      flag: '--drain-timeout',
      aliases: ['--old-timeout'],
      env: ['BATON_DRAIN_TIMEOUT'],
      kind: 'single',
      default: '30m',
      required: undefined,
      expected: 'a duration such as 30s, 5m or 1h30m',
      description: 'd',
      kured: undefined,
      kuredNote: undefined,
      bounds: undefined,
    });
    const byFlag = new Map(rows.map((row) => [row.flag, row]));
    expect(byFlag.get('--node-id')?.env).toEqual(['BATON_NODE_ID', 'KURED_NODE_ID', 'NODE_NAME']);
    expect(byFlag.get('--node-id')?.required).toBe('from the downward API');
    expect(byFlag.get('--concurrency')?.kured).toBe('--concurrency');
    expect(byFlag.get('--concurrency')?.bounds).toEqual({
      min: 1,
      max: 1000,
      maxText: '1000',
      unit: 'count',
    });
    expect(byFlag.get('--leader-elect')?.default).toBe('true');
    expect(byFlag.get('--dry-run')?.default).toBe('false');
    expect(byFlag.get('--tag')?.default).toBe('x, y');
    expect(byFlag.get('--selector')?.default).toBeUndefined();
    expect(byFlag.get('--leader-elect')?.expected).toBe('true or false (also 1/0, yes/no)');
  });
});
