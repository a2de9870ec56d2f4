/**
 * Every count and duration has a maximum, checked at start with the flag named: a value past what
 * the runtime holds would start and misbehave (Node's timers fire at once past 2^31-1 ms, a
 * Lease's durations are int32 seconds, `--concurrency=1e9` made every pass throw).
 */
import { describe, expect, it } from 'vitest';
import { agentOptions, parseAgentConfig } from './agent.ts';
import { controllerOptions, parseControllerConfig } from './controller.ts';
import { ConfigError } from './errors.ts';
import { describeOptions, type OptionInput, type OptionTable } from './flags.ts';
import { TIMER_LIMIT_MS } from './time.ts';

const NODE = { NODE_NAME: 'node-a' };
const INT32_MAX = 2 ** 31 - 1;

function refusal(parse: () => unknown): string {
  try {
    parse();
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

/** [flag, its maximum, just past it, the parsed maximum, other flags the maximum needs]. */
type Row = readonly [string, string, string, unknown, readonly string[]];

const controllerLimits: readonly Row[] = [
  ['--concurrency', '1000', '1001', 1000, []],
  ['--period', '24h', '24h1ms', 86_400_000, []],
  ['--grant-duration', '24h', '24h1ms', 86_400_000, []],
  ['--reboot-timeout', '168h', '168h1ms', 604_800_000, []],
  // The settle time must stay below the reboot timeout, which counts it.
  ['--settle-time', '24h', '24h1ms', 86_400_000, ['--reboot-timeout=25h']],
  ['--abort-backoff', '24h', '24h1ms', 86_400_000, []],
  ['--max-unavailable', '100000', '100001', { kind: 'count', value: 100_000 }, []],
  ['--max-per-group', '1000', '1001', 1000, ['--group-label=zone']],
  ['--leader-election-lease-duration', '1h', '1h1ms', 3_600_000, []],
  ['--leader-election-renew-deadline', '30m', '30m1ms', 1_800_000, ['--leader-election-lease-duration=1h']],
  [
    '--leader-election-retry-period',
    '10m',
    '10m1ms',
    600_000,
    ['--leader-election-lease-duration=1h', '--leader-election-renew-deadline=30m'],
  ],
  ['--metrics-port', '65535', '65536', 65535, []],
];

const agentLimits: readonly Row[] = [
  ['--sentinel-poll-interval', '1h', '1h1ms', 3_600_000, []],
  ['--heartbeat-interval', '24h', '24h1ms', 86_400_000, []],
  ['--drain-grace-period', '86400', '86401', 86_400, []],
  ['--drain-timeout', '24h', '24h1ms', 86_400_000, []],
  ['--skip-wait-for-delete-timeout', '24h', '24h1ms', 86_400_000, []],
  ['--skip-wait-for-delete-timeout', '86400', '86401', 86_400_000, []],
  ['--drain-delay', '24h', '24h1ms', 86_400_000, []],
  // The retry backoff must stay below the drain timeout.
  ['--eviction-retry-backoff', '1h', '1h1ms', 3_600_000, ['--drain-timeout=2h']],
  ['--reboot-delay', '24h', '24h1ms', 86_400_000, []],
  ['--shutdown-grace', '24h', '24h1ms', 86_400_000, []],
  ['--max-reboot-attempts', '100', '101', 100, []],
  ['--reboot-signal', '64', '65', 64, ['--reboot-method=signal']],
  ['--metrics-port', '65535', '65536', 65535, []],
];

const camel = (flag: string) => flag.slice(2).replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

describe.each([
  {
    process: 'controller',
    rows: controllerLimits,
    parse: (argv: readonly string[], env: OptionInput['env'] = {}) => parseControllerConfig({ argv, env }),
    table: controllerOptions as OptionTable,
    env: {},
  },
  {
    process: 'agent',
    rows: agentLimits,
    parse: (argv: readonly string[], env: OptionInput['env'] = NODE) =>
      parseAgentConfig({ argv, env: { ...NODE, ...env } }),
    table: agentOptions as OptionTable,
    env: NODE,
  },
])('the $process: every count and duration has a maximum', ({ rows, parse, table }) => {
  it.each(rows)('%s=%s is accepted, %s=%s is refused naming the flag', (flag, max, past, value, extra) => {
    const config = parse([`${flag}=${max}`, ...extra]) as unknown as Record<string, unknown>;
    expect(config[camel(flag)]).toEqual(value);

    const message = refusal(() => parse([`${flag}=${past}`, ...extra]));
    const line = message.split('\n').find((l) => l.startsWith(`${flag}: invalid value "${past}": expected `));
    expect(line, message).toBeDefined();
    // The line states the maximum, so nobody has to look it up.
    const row = describeOptions(table).find((r) => r.flag === flag);
    expect(line).toContain(row?.bounds?.maxText);
    // From the environment the same, naming the variable.
    const variable = `BATON_${flag.slice(2).toUpperCase().replaceAll('-', '_')}`;
    const fromEnv = refusal(() => parse(extra, { [variable]: past }));
    expect(fromEnv).toContain(`env ${variable}: invalid value "${past}": expected `);
  });

  it('lists every option that has a range, and every numeric option has one', () => {
    const described = describeOptions(table);
    const bounded = described.filter((row) => row.bounds !== undefined).map((row) => row.flag);
    expect(new Set(rows.map(([flag]) => flag))).toEqual(new Set(bounded));
    const defaults = parse([]) as unknown as Record<string, unknown>;
    for (const row of described) {
      // Times of day are bounded by the clock (0:00 to 23:59:59), not by a maximum.
      const numeric =
        (typeof defaults[camel(row.flag)] === 'number' && !row.expected.startsWith('a time of day')) ||
        /duration|integer|count/.test(row.expected);
      if (numeric) expect(row.bounds, row.flag).toBeDefined();
    }
  });

  it('states each maximum in --help and docs/configuration.md (the expected form)', () => {
    for (const row of describeOptions(table)) {
      if (row.bounds === undefined) continue;
      expect(row.expected, row.flag).toContain(row.bounds.maxText);
    }
  });

  it('never goes past what a timer can wait for', () => {
    for (const row of describeOptions(table)) {
      if (row.bounds?.unit === 'ms') expect(row.bounds.max, row.flag).toBeLessThanOrEqual(TIMER_LIMIT_MS);
    }
  });
});

describe('limits the runtime imposes', () => {
  const bounds = (table: OptionTable, flag: string) =>
    describeOptions(table).find((row) => row.flag === flag)?.bounds;

  it('keeps Lease durations within int32 seconds, and the grant within a day', () => {
    for (const flag of [
      '--grant-duration',
      '--leader-election-lease-duration',
      '--leader-election-renew-deadline',
      '--leader-election-retry-period',
    ]) {
      expect(Math.ceil((bounds(controllerOptions, flag)?.max ?? Infinity) / 1000), flag).toBeLessThanOrEqual(
        INT32_MAX,
      );
    }
    expect(bounds(controllerOptions, '--grant-duration')?.max).toBe(86_400_000);
  });

  it('keeps the abort backoff within a timer at its largest (16 times the base)', () => {
    expect(16 * (bounds(controllerOptions, '--abort-backoff')?.max ?? Infinity)).toBeLessThanOrEqual(
      TIMER_LIMIT_MS,
    );
  });

  it('refuses the values of the issue: --period=1000h, --concurrency=1e9, a grant past int32 seconds', () => {
    const controller = (argv: readonly string[]) => refusal(() => parseControllerConfig({ argv, env: {} }));
    const agent = (argv: readonly string[]) => refusal(() => parseAgentConfig({ argv, env: NODE }));
    expect(controller(['--period=1000h'])).toContain(
      '--period: invalid value "1000h": expected a duration from 1s to 24h',
    );
    expect(controller(['--concurrency=1e9'])).toContain(
      '--concurrency: invalid value "1e9": expected an integer from 1 to 1000',
    );
    expect(controller(['--grant-duration=600000h'])).toContain(
      '--grant-duration: invalid value "600000h": expected a duration from 30s to 24h',
    );
    expect(agent(['--sentinel-poll-interval=1000h'])).toContain(
      '--sentinel-poll-interval: invalid value "1000h": expected a duration greater than 0 and at most 1h',
    );
  });
});

describe('--abort-backoff', () => {
  it('defaults to 5m and takes 1s to 24h', () => {
    expect(parseControllerConfig({ argv: [], env: {} }).abortBackoff).toBe(300_000);
    expect(parseControllerConfig({ argv: ['--abort-backoff=1s'], env: {} }).abortBackoff).toBe(1000);
    expect(refusal(() => parseControllerConfig({ argv: ['--abort-backoff=999ms'], env: {} }))).toBe(
      '--abort-backoff: invalid value "999ms": expected a duration from 1s to 24h, such as 30s, 5m or 1h30m (shorter than 1s)',
    );
  });

  it('is documented', () => {
    const row = describeOptions(controllerOptions).find((r) => r.flag === '--abort-backoff');
    expect(row?.default).toBe('5m');
    expect(row?.description).toContain('doubling with each further such grant in a row, up to 16×');
    expect(row?.env).toEqual(['BATON_ABORT_BACKOFF']);
  });
});
