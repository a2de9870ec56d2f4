import { describe, expect, it } from 'vitest';
import { agentOptions } from './agent.ts';
import { controllerOptions, parseControllerConfig } from './controller.ts';
import { ConfigError } from './errors.ts';
import { describeOptions, type OptionInput, type OptionTable } from './flags.ts';
import { KURED_FLAGS, kuredFlagHints } from './kured.ts';

function parse(argv: readonly string[], env: OptionInput['env'] = {}) {
  return parseControllerConfig({ argv, env });
}

function errorOf(argv: readonly string[], env: OptionInput['env'] = {}): ConfigError {
  try {
    parse(argv, env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

const ALL_DAYS = [0, 1, 2, 3, 4, 5, 6];

describe('parseControllerConfig: valid input', () => {
  it('has a default for everything', () => {
    const config = parse([]);
    expect(config).toMatchObject({
      namespace: 'baton',
      identity: undefined,
      concurrency: 1,
      period: 60_000,
      rebootDays: ALL_DAYS,
      startTime: 0,
      endTime: 86_399,
      timeZone: 'UTC',
      rebootWindow: [],
      blackoutDate: [],
      blockingPodSelector: [],
      blockingPodScope: 'node',
      prometheusUrl: undefined,
      alertmanagerUrl: undefined,
      alertFilterRegexp: undefined,
      alertFilterMatchOnly: false,
      alertFiringOnly: false,
      alertLabelMatcher: [],
      healthQuery: undefined,
      grantDuration: 300_000,
      rebootTimeout: 1_800_000,
      settleTime: 0,
      optOutLabel: 'baton.dev/opt-out',
      priorityLabel: 'baton.dev/priority',
      groupLabel: undefined,
      maxPerGroup: undefined,
      maxUnavailable: undefined,
      notifyUrl: [],
      metricsHost: '0.0.0.0',
      metricsPort: 8080,
      logFormat: 'json',
      logLevel: 'info',
      leaderElect: true,
      leaderElectionLeaseDuration: 15_000,
      leaderElectionRenewDeadline: 10_000,
      leaderElectionRetryPeriod: 2_000,
      kubeconfig: undefined,
      windows: [{ days: ALL_DAYS, startSeconds: 0, endSeconds: 86_399 }],
    });
  });

  it('parses a full configuration', () => {
    const config = parse(
      [
        '--concurrency=2',
        '--period',
        '30s',
        '--reboot-window=mo-fr 22:00-04:00',
        '--reboot-window=sa,su 0:00-23:59:59',
        '--blackout-date=2025-12-24,2025-12-31',
        '--blackout-date=2026-01-01',
        '--time-zone=Europe/Berlin',
        '--blocking-pod-selector=app=backup,phase!=done',
        '--blocking-pod-selector=critical',
        '--blocking-pod-scope=cluster',
        '--prometheus-url=http://prometheus.monitoring:9090',
        '--alertmanager-url=http://alertmanager.monitoring:9093',
        '--alert-filter-regexp=(?i)^RebootRequired$',
        '--alert-filter-match-only=false',
        '--alert-firing-only',
        '--alert-label-matcher=severity=~critical|page',
        '--prometheus-bearer-token-file=/var/run/secrets/prom/token',
        '--prometheus-ca-file=/etc/prom/ca.crt',
        '--health-query=sum(ceph_health_status) > 0',
        '--grant-duration=2m',
        '--reboot-timeout=1h',
        '--settle-time=5m',
        '--group-label=topology.kubernetes.io/zone',
        '--max-per-group=1',
        '--max-unavailable=10%',
        '--notify-url=https://hooks.slack.com/services/A/B/C',
        '--notify-url=https://example.com/baton',
        '--metrics-port=9100',
        '--log-format=text',
        '--log-level=debug',
        '--leader-elect=false',
        '--kubeconfig=/home/me/.kube/config',
      ],
      { POD_NAMESPACE: 'kube-system', POD_NAME: 'baton-controller-abc' },
    );
    expect(config.namespace).toBe('kube-system');
    expect(config.identity).toBe('baton-controller-abc');
    expect(config.concurrency).toBe(2);
    expect(config.period).toBe(30_000);
    expect(config.windows).toEqual([
      { days: [1, 2, 3, 4, 5], startSeconds: 79_200, endSeconds: 14_400 },
      { days: [0, 6], startSeconds: 0, endSeconds: 86_399 },
    ]);
    expect(config.windows).toBe(config.rebootWindow);
    expect(config.blackoutDate).toEqual(['2025-12-24', '2025-12-31', '2026-01-01']);
    expect(config.blockingPodSelector).toHaveLength(2);
    expect(config.blockingPodScope).toBe('cluster');
    expect(config.alertFilterRegexp?.test('rebootrequired')).toBe(true);
    expect(config.alertFiringOnly).toBe(true);
    expect(config.alertLabelMatcher[0]?.regex?.test('page')).toBe(true);
    expect(config.maxUnavailable).toEqual({ kind: 'percent', value: 10 });
    expect(config.notifyUrl).toHaveLength(2);
    expect(config.logFormat).toBe('text');
    expect(config.leaderElect).toBe(false);
    expect(config.kubeconfig).toBe('/home/me/.kube/config');
  });

  it("accepts kured's names", () => {
    const config = parse([
      '--lock-release-delay=10m',
      '--reboot-days=mo,tu,we,th,fr',
      '--start-time=10pm',
      '--end-time=4am',
      '--time-zone=America/New_York',
    ]);
    expect(config.settleTime).toBe(600_000);
    expect(config.windows).toEqual([{ days: [1, 2, 3, 4, 5], startSeconds: 79_200, endSeconds: 14_400 }]);
    expect(config.timeZone).toBe('America/New_York');
  });

  it('takes flags over BATON_ variables over other variables over defaults', () => {
    expect(parse([]).namespace).toBe('baton');
    expect(parse([], { POD_NAMESPACE: 'from-pod' }).namespace).toBe('from-pod');
    expect(parse([], { POD_NAMESPACE: 'from-pod', BATON_NAMESPACE: 'from-baton' }).namespace).toBe(
      'from-baton',
    );
    expect(parse(['--namespace=from-flag'], { POD_NAMESPACE: 'a', BATON_NAMESPACE: 'b' }).namespace).toBe(
      'from-flag',
    );
    expect(parse([], { BATON_SETTLE_TIME: '1m' }).settleTime).toBe(60_000);
    expect(parse(['--lock-release-delay=2m'], { BATON_SETTLE_TIME: '1m' }).settleTime).toBe(120_000);
    expect(parse([], { KUBECONFIG: '/k' }).kubeconfig).toBe('/k');
  });

  it('is deeply frozen', () => {
    const config = parse([
      '--reboot-window=mo 1:00-2:00',
      '--blocking-pod-selector=app in (a,b)',
      '--alert-filter-regexp=x',
      '--prometheus-url=http://p',
    ]);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.windows)).toBe(true);
    expect(Object.isFrozen(config.windows[0])).toBe(true);
    expect(Object.isFrozen(config.windows[0]?.days)).toBe(true);
    expect(Object.isFrozen(config.blockingPodSelector[0]?.[0]?.values)).toBe(true);
    expect(Object.isFrozen(config.alertFilterRegexp)).toBe(true);
    expect(() => {
      (config as { concurrency: number }).concurrency = 5;
    }).toThrow(TypeError);
    expect(() => {
      (config.windows[0]!.days as number[]).push(3);
    }).toThrow(TypeError);
  });
});

describe('parseControllerConfig: every invalid value names the flag, the value and the expected form', () => {
  it.each([
    ['bad duration', ['--period=10x'], {}, '--period', '10x', 'a duration from 1s to 24h'],
    ['days are not a unit', ['--period=1d'], {}, '--period', '1d', '"d" (days) is not a unit here'],
    [
      'grant below its minimum',
      ['--grant-duration=10s'],
      {},
      '--grant-duration',
      '10s',
      'a duration from 30s to 24h, such as 30s, 5m or 1h30m (shorter than 30s)',
    ],
    [
      'reboot timeout below its minimum',
      ['--reboot-timeout=30s'],
      {},
      '--reboot-timeout',
      '30s',
      'a duration from 1m to 168h (7 days), such as 30s, 5m or 1h30m (shorter than 1m)',
    ],
    [
      'negative settle time',
      ['--lock-release-delay=-1m'],
      {},
      '--lock-release-delay',
      '-1m',
      'negative durations are not allowed',
    ],
    ['bad time of day', ['--start-time=24:00'], {}, '--start-time', '24:00', 'a time of day such as 22:00'],
    ['bad minutes', ['--end-time=7:61'], {}, '--end-time', '7:61', 'minutes go from 00 to 59'],
    ['bad weekday', ['--reboot-days=mo,funday'], {}, '--reboot-days', 'mo,funday', 'weekdays such as mo-fr'],
    ['empty weekday list', ['--reboot-days='], {}, '--reboot-days', '', 'at least one day is needed'],
    ['bad time zone', ['--time-zone=Mars/Olympus'], {}, '--time-zone', 'Mars/Olympus', 'an IANA time zone'],
    [
      'bad regex',
      ['--alert-filter-regexp=([', '--prometheus-url=http://p'],
      {},
      '--alert-filter-regexp',
      '([',
      'missing closing ]',
    ],
    [
      'bad label selector',
      ['--blocking-pod-selector=app in (web'],
      {},
      '--blocking-pod-selector',
      'app in (web',
      'a label selector such as',
    ],
    [
      'empty label selector',
      ['--blocking-pod-selector='],
      {},
      '--blocking-pod-selector',
      '',
      'an empty selector matches every pod',
    ],
    [
      'bad URL',
      ['--prometheus-url=prometheus:9090'],
      {},
      '--prometheus-url',
      'prometheus:9090',
      'the scheme is "prometheus"',
    ],
    [
      'not a URL',
      ['--alertmanager-url=alertmanager'],
      {},
      '--alertmanager-url',
      'alertmanager',
      'an http:// or https:// URL',
    ],
    [
      'shoutrrr URL',
      ['--notify-url=slack://a/b/c'],
      {},
      '--notify-url',
      'slack://',
      'baton posts JSON webhooks to http(s) URLs',
    ],
    [
      'negative concurrency',
      ['--concurrency=-1'],
      {},
      '--concurrency',
      '-1',
      'an integer from 1 to 1000 (negative values are not allowed here)',
    ],
    ['zero concurrency', ['--concurrency=0'], {}, '--concurrency', '0', 'an integer from 1 to 1000'],
    ['bad port', ['--metrics-port=70000'], {}, '--metrics-port', '70000', 'a port number from 1 to 65535'],
    [
      'bad listen host',
      ['--metrics-host=0.0.0.0:8080'],
      {},
      '--metrics-host',
      '0.0.0.0:8080',
      'an IP address or host name',
    ],
    ['bad log format', ['--log-format=logfmt'], {}, '--log-format', 'logfmt', 'json or text'],
    [
      'bad log level',
      ['--log-level=verbose'],
      {},
      '--log-level',
      'verbose',
      'one of trace, debug, info, warn, error or fatal',
    ],
    ['bad scope', ['--blocking-pod-scope=zone'], {}, '--blocking-pod-scope', 'zone', 'node or cluster'],
    [
      'bad window',
      ['--reboot-window=weekdays 22-4'],
      {},
      '--reboot-window',
      'weekdays 22-4',
      'a window such as "mo-fr 22:00-04:00"',
    ],
    [
      'bad blackout date',
      ['--blackout-date=2025-02-30'],
      {},
      '--blackout-date',
      '2025-02-30',
      'a date such as 2025-12-24',
    ],
    [
      'bad max unavailable',
      ['--max-unavailable=150%'],
      {},
      '--max-unavailable',
      '150%',
      'a node count from 0 to 100000 such as 2, or a percentage',
    ],
    ['bad group label', ['--group-label=Zone/x'], {}, '--group-label', 'Zone/x', 'a label key such as'],
    [
      'bad max per group',
      ['--max-per-group=0', '--group-label=zone'],
      {},
      '--max-per-group',
      '0',
      'an integer from 1 to 1000',
    ],
    [
      'bad alert matcher',
      ['--alert-label-matcher=severity', '--prometheus-url=http://p'],
      {},
      '--alert-label-matcher',
      'severity',
      'a label matcher such as',
    ],
    ['bad boolean', ['--leader-elect=maybe'], {}, '--leader-elect', 'maybe', 'true or false'],
    [
      'empty health query',
      ['--health-query=', '--prometheus-url=http://p'],
      {},
      '--health-query',
      '',
      'a non-empty string',
    ],
    ['bad env value', [], { BATON_PERIOD: '5' }, 'env BATON_PERIOD', '5', 'a unit is required'],
    [
      'bad POD_NAMESPACE',
      [],
      { POD_NAMESPACE: 'Kube_System' },
      'env POD_NAMESPACE',
      'Kube_System',
      'a namespace name',
    ],
    ['unknown flag', ['--perod=1m'], {}, '--perod', 'unknown flag --perod;', 'did you mean --period?'],
    [
      'unknown BATON_ variable',
      [],
      { BATON_PERIOD_: '1m' },
      'env BATON_PERIOD_',
      'BATON_PERIOD_',
      'did you mean BATON_PERIOD?',
    ],
    [
      'repeated single flag',
      ['--period=1m', '--period=2m'],
      {},
      '--period',
      '"2m"',
      'takes one value: expected a duration',
    ],
    [
      'alias and name both given',
      ['--settle-time=1m', '--lock-release-delay=2m'],
      {},
      '--settle-time',
      '--lock-release-delay="2m"',
      'takes one value',
    ],
    ['missing value', ['--concurrency'], {}, '--concurrency', 'missing value', 'an integer from 1 to 1000'],
    ['positional argument', ['run'], {}, 'unexpected argument', '"run"', 'options written as --name=value'],
    [
      'kured flag of the agent',
      ['--drain-timeout=1h'],
      {},
      '--drain-timeout',
      'unknown flag --drain-timeout:',
      'is an option of baton-agent, not of baton-controller',
    ],
    [
      'kured flag baton dropped',
      ['--lock-ttl=30m'],
      {},
      '--lock-ttl',
      'unknown flag --lock-ttl:',
      'see --grant-duration',
    ],
  ] as const)('%s', (_what, argv, env, source, value, expected) => {
    const error = errorOf(argv, env);
    const line = error.message
      .split('\n')
      .find((l) => l.includes(source) && l.includes(value) && l.includes(expected));
    expect(line, error.message).toBeDefined();
  });
});

describe('parseControllerConfig: combinations', () => {
  it.each([
    [
      'window and kured-style days',
      ['--reboot-window=mo-fr 22:00-04:00', '--reboot-days=sa'],
      {},
      '--reboot-days="sa" conflicts with --reboot-window="mo-fr 22:00-04:00": expected either --reboot-window or --reboot-days/--start-time/--end-time, not both',
    ],
    [
      'window and kured-style time from the environment',
      ['--reboot-window=mo-fr 22:00-04:00'],
      { BATON_START_TIME: '22:00' },
      'env BATON_START_TIME="22:00" conflicts with --reboot-window="mo-fr 22:00-04:00": expected either --reboot-window or --reboot-days/--start-time/--end-time, not both',
    ],
    [
      'equal start and end',
      ['--start-time=23:59:59'],
      {},
      '--start-time="23:59:59" conflicts with default of --end-time="23:59:59": expected different start and end times; for the whole day 0:00 and 23:59:59',
    ],
    [
      'match-only without a regexp',
      ['--alert-filter-match-only', '--prometheus-url=http://p'],
      {},
      '--alert-filter-match-only="true" requires --alert-filter-regexp: expected a regexp naming the only alerts that block',
    ],
    [
      'alert filter without an alert source',
      ['--alert-filter-regexp=^Reboot'],
      {},
      '--alert-filter-regexp="^Reboot" requires --prometheus-url or --alertmanager-url: expected an alert source to apply it to',
    ],
    [
      'firing-only without an alert source',
      ['--alert-firing-only'],
      {},
      '--alert-firing-only="true" requires --prometheus-url or --alertmanager-url: expected an alert source to apply it to',
    ],
    [
      'Prometheus credentials without Prometheus',
      ['--prometheus-bearer-token-file=/t'],
      {},
      '--prometheus-bearer-token-file="/t" requires --prometheus-url or --alertmanager-url: expected an alert source to apply it to',
    ],
    [
      'health query on Alertmanager only',
      ['--health-query=up == 0', '--alertmanager-url=http://am'],
      {},
      '--health-query="up == 0" requires --prometheus-url: expected a Prometheus to evaluate the query on',
    ],
    [
      'two kinds of authentication',
      ['--prometheus-url=http://p', '--prometheus-bearer-token-file=/t', '--prometheus-basic-auth-file=/b'],
      {},
      '--prometheus-bearer-token-file="/t" conflicts with --prometheus-basic-auth-file="/b": expected one kind of authentication (a request carries one Authorization header)',
    ],
    [
      'max-per-group without groups',
      ['--max-per-group=1'],
      {},
      '--max-per-group="1" requires --group-label: expected the node label that forms the groups',
    ],
    [
      'renew deadline not below the lease duration',
      ['--leader-election-renew-deadline=20s'],
      {},
      '--leader-election-renew-deadline="20s" conflicts with default of --leader-election-lease-duration="15s": expected a renew deadline shorter than the lease duration',
    ],
    [
      'lease duration not above the renew deadline',
      ['--leader-election-lease-duration=5s'],
      {},
      '--leader-election-lease-duration="5s" conflicts with default of --leader-election-renew-deadline="10s": expected a renew deadline shorter than the lease duration',
    ],
    [
      'retry period not below the renew deadline',
      ['--leader-election-retry-period=10s'],
      {},
      '--leader-election-retry-period="10s" conflicts with default of --leader-election-renew-deadline="10s": expected a retry period shorter than the renew deadline',
    ],
    [
      'settle time not below the reboot timeout',
      ['--settle-time=30m'],
      {},
      '--settle-time="30m" conflicts with default of --reboot-timeout="30m": expected a settle time shorter than the reboot timeout (which counts the settling too)',
    ],
    [
      'reboot timeout not above the settle time',
      ['--lock-release-delay=10m', '--reboot-timeout=5m'],
      {},
      '--lock-release-delay="10m" conflicts with --reboot-timeout="5m": expected a settle time shorter than the reboot timeout (which counts the settling too)',
    ],
  ] as const)('%s', (_what, argv, env, line) => {
    expect(errorOf(argv, env).message.split('\n')).toContain(line);
  });

  it('reports a bad value and a conflict together, without inventing a missing option', () => {
    const error = errorOf([
      '--max-per-group=1',
      '--group-label=Bad/',
      '--alert-filter-match-only',
      '--alert-filter-regexp=(',
      '--prometheus-url=http://p',
    ]);
    expect(error.issues.map((issue) => issue.source)).toEqual(['--group-label', '--alert-filter-regexp']);
  });

  it('accepts what the rules allow', () => {
    expect(() => parse(['--alert-firing-only=false'])).not.toThrow();
    expect(() =>
      parse(['--alertmanager-url=http://am', '--alert-filter-regexp=x', '--alert-filter-match-only']),
    ).not.toThrow();
    expect(() =>
      parse(['--leader-election-lease-duration=60s', '--leader-election-renew-deadline=40s']),
    ).not.toThrow();
    expect(() => parse(['--start-time=22:00', '--end-time=22:00:01'])).not.toThrow();
  });

  it('reports many problems at once', () => {
    const error = errorOf(
      ['--period=soon', '--concurrency=-3', '--reboot-days=', '--max-per-group=2', '--nope'],
      {
        BATON_TIMEZONE: 'UTC',
      },
    );
    expect(error.issues.map((issue) => issue.source)).toEqual([
      '--nope',
      '--concurrency',
      '--period',
      '--reboot-days',
      'env BATON_TIMEZONE',
      '--max-per-group',
    ]);
    expect(error.message).toContain('env BATON_TIMEZONE: unknown variable; did you mean BATON_TIME_ZONE?');
  });
});

describe('controller reference', () => {
  it('describes every option', () => {
    const rows = describeOptions(controllerOptions);
    expect(rows).toHaveLength(controllerOptions.length);
    for (const row of rows) {
      expect(row.description.length, row.flag).toBeGreaterThan(10);
      expect(row.expected.length, row.flag).toBeGreaterThan(3);
      expect(row.env[0]).toMatch(/^BATON_[A-Z_]+$/);
    }
    const settle = rows.find((row) => row.flag === '--settle-time');
    expect(settle?.aliases).toEqual(['--lock-release-delay']);
    expect(settle?.kured).toBe('--lock-release-delay');
  });

  it('places every kured flag the controller takes, and hints at the others', () => {
    const known = new Set(
      (controllerOptions as OptionTable).flatMap((def) => [def.name, ...(def.aliases ?? [])]),
    );
    const hints = kuredFlagHints('controller');
    for (const [flag, fate] of Object.entries(KURED_FLAGS)) {
      if (fate.home === 'controller' || fate.home === 'both') expect(known.has(flag), flag).toBe(true);
      else expect(hints[flag], flag).toBeDefined();
    }
    // A kuredFlag is only claimed by the table that takes that flag.
    for (const def of controllerOptions as OptionTable) {
      if (def.kuredFlag !== undefined)
        expect(['controller', 'both']).toContain(KURED_FLAGS[def.kuredFlag]?.home);
    }
  });

  it('lists 43 kured flags, split between the two processes', () => {
    expect(Object.keys(KURED_FLAGS)).toHaveLength(43);
    const agentFlags = new Set(
      (agentOptions as OptionTable).flatMap((def) => [def.name, ...(def.aliases ?? [])]),
    );
    for (const [flag, fate] of Object.entries(KURED_FLAGS)) {
      if (fate.home === 'agent' || fate.home === 'both') expect(agentFlags.has(flag), flag).toBe(true);
      if (fate.home === 'none') expect(fate.instead, flag).toBeDefined();
    }
  });
});

describe('parseControllerConfig: credentials in values are never printed', () => {
  it.each([
    [
      'a password in an invalid --prometheus-url',
      ['--prometheus-url=http://admin:hunter2@prometheus:99999'],
      '--prometheus-url: invalid value "http://(redacted)@prometheus:99999": expected an http:// or https:// URL (not a URL)',
    ],
    [
      'a password without a scheme',
      ['--prometheus-url=admin:hunter2@prometheus:9090'],
      '--prometheus-url: invalid value "(redacted)@prometheus:9090": expected an http:// or https:// URL (it does not start with http:// or https://)',
    ],
    [
      'a token in the query of an invalid --alertmanager-url',
      ['--alertmanager-url=ftp://am/?token=hunter2'],
      '--alertmanager-url: invalid value "ftp://am/?token=(redacted)": expected an http:// or https:// URL (the scheme is "ftp", not http or https)',
    ],
    [
      'a password in a valid URL named by a conflict',
      ['--prometheus-url=http://admin:hunter2@p', '--alertmanager-url=http://a', '--prometheus-url=http://x'],
      '--prometheus-url given more than once (--prometheus-url="http://(redacted)@p", --prometheus-url="http://x") but takes one value: expected an http:// or https:// URL',
    ],
    [
      'a webhook token in --notify-url',
      ['--notify-url=slack://hunter2@channel'],
      '--notify-url: invalid value "slack://…(redacted)": expected an http:// or https:// webhook URL ("slack://" looks like a kured/shoutrrr URL; baton posts JSON webhooks to http(s) URLs (for Slack, give the https://hooks.slack.com/… incoming-webhook URL))',
    ],
    [
      'a misspelt --notify-url',
      ['--notifyurl=https://hooks.slack.com/services/T0/B0/hunter2'],
      'unknown flag --notifyurl; did you mean --notify-url?',
    ],
  ] as const)('%s', (_what, argv, line) => {
    const error = errorOf(argv);
    expect(error.message).not.toContain('hunter2');
    expect(error.message).not.toContain('admin');
    expect(error.message.split('\n')).toContain(line);
    for (const issue of error.issues) expect(issue.value).not.toContain('hunter2');
  });

  it('from the environment too', () => {
    const error = errorOf([], { BATON_PROMETHEUS_URL: 'https://admin:hunter2@p:0x' });
    expect(error.message).toBe(
      'env BATON_PROMETHEUS_URL: invalid value "https://(redacted)@p:0x": expected an http:// or https:// URL (not a URL)',
    );
  });
});

describe("kured's KURED_ variables", () => {
  it('reads KURED_<FLAG> for every option with kured meaning, after BATON_ and below the flag', () => {
    expect(parse([], { KURED_PERIOD: '5m' }).period).toBe(300_000);
    expect(parse([], { KURED_PERIOD: '5m', BATON_PERIOD: '2m' }).period).toBe(120_000);
    expect(parse(['--period=1m'], { KURED_PERIOD: '5m' }).period).toBe(60_000);
    expect(parse([], { KURED_CONCURRENCY: '2' }).concurrency).toBe(2);
    expect(parse([], { KURED_REBOOT_DAYS: 'mo,tu' }).rebootDays).toEqual([1, 2]);
    // Empty counts as unset, as for BATON_ variables.
    expect(parse([], { KURED_PERIOD: '' }).period).toBe(60_000);
  });

  it('names the variable when its value is bad', () => {
    const err = errorOf([], { KURED_CONCURRENCY: 'two' });
    expect(err.message).toContain('env KURED_CONCURRENCY');
  });

  it("refuses a kured variable this process does not take, saying where kured's flag went", () => {
    expect(errorOf([], { KURED_REBOOT_SENTINEL: '/var/run/reboot-required' }).message).toContain(
      "env KURED_REBOOT_SENTINEL: kured's --reboot-sentinel is an option of baton-agent, not of baton-controller",
    );
    expect(errorOf([], { KURED_LOCK_TTL: '30m' }).message).toContain(
      "env KURED_LOCK_TTL: kured's --lock-ttl has no baton equivalent",
    );
    expect(errorOf([], { KURED_NO_SUCH_FLAG: 'x' }).message).toContain(
      'env KURED_NO_SUCH_FLAG: names no flag of kured 1.23.0 that this process takes',
    );
  });

  it('leaves service-link variables of a Service named kured alone', () => {
    expect(parse([], { KURED_SERVICE_HOST: '10.0.0.1', KURED_PORT: 'tcp://10.0.0.1:8080' }).period).toBe(
      60_000,
    );
  });

  it('has a KURED_ variable for every option that names a kured flag, listed in the reference', () => {
    for (const row of describeOptions(controllerOptions)) {
      if (row.kured === undefined) continue;
      const flag = row.kured.replace(/^--/, '');
      expect(row.env).toContain(`KURED_${flag.toUpperCase().replaceAll('-', '_')}`);
    }
  });
});
