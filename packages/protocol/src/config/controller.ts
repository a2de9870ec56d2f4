/**
 * The controller's options: which nodes may reboot, when, how many at once, and what blocks them.
 *
 * Per-option syntax is checked by the table; the rules at the bottom check combinations (an
 * option that only means something together with another, options that contradict each other).
 */
import { Label } from '../protocol.ts';
import { combinationIssue, requirementIssue } from './errors.ts';
import {
  type CollectedOptions,
  collectOptions,
  defineOptions,
  finishOptions,
  givenOrigin,
  type OptionInput,
  type OptionValues,
} from './flags.ts';
import { kuredFlagHints } from './kured.ts';
import { labelKey, nonEmptyLabelSelector } from './labels.ts';
import { loggingOptions } from './logging.ts';
import {
  boundedDuration,
  date,
  type RebootWindow,
  rebootWindow,
  timeOfDay,
  timeZone,
  weekdays,
} from './time.ts';
import {
  alertLabelMatcher,
  httpUrl,
  integer,
  listenHost,
  maxUnavailable,
  namespaceName,
  nodeName,
  nonEmptyString,
  notifyUrl,
  oneOf,
  path,
  port,
  regex,
} from './values.ts';

export const controllerOptions = defineOptions([
  // --- identity -------------------------------------------------------------------------------
  {
    name: 'namespace',
    kind: 'single',
    ...namespaceName,
    env: ['POD_NAMESPACE'],
    default: 'baton',
    description:
      'Namespace of the slot, pause and leader Leases. The chart sets POD_NAMESPACE from the downward API.',
  },
  {
    name: 'identity',
    kind: 'single',
    ...nonEmptyString,
    env: ['POD_NAME'],
    description:
      'Name this replica uses as leader-election holder. The chart sets POD_NAME; when unset the process uses its host name.',
  },
  {
    name: 'node-name',
    kind: 'single',
    ...nodeName,
    env: ['NODE_NAME'],
    description:
      'The node this replica runs on (the chart sets NODE_NAME from spec.nodeName): among nodes waiting alike, it is rebooted last.',
  },
  // --- pacing ---------------------------------------------------------------------------------
  {
    name: 'concurrency',
    kind: 'single',
    ...integer({ min: 1, max: 1000 }),
    default: '1',
    description:
      'How many nodes may hold a reboot grant (a slot Lease, one per unit of concurrency) at the same time.',
    kuredFlag: 'concurrency',
    kuredNote: 'Same meaning. kured warned that values above 1 were unsafe; baton grants slots centrally.',
  },
  {
    name: 'period',
    kind: 'single',
    ...boundedDuration('1s', '24h'),
    default: '1m',
    description:
      'Interval of the full re-evaluation of every node. Changes (a sentinel, a finished reboot) are acted on as they are seen; this is the safety net.',
    kuredFlag: 'period',
    kuredNote:
      "kured's default was 1h, with a random first delay, on every node; here one controller resyncs.",
  },
  {
    name: 'grant-duration',
    kind: 'single',
    ...boundedDuration('30s', '24h'),
    default: '5m',
    description:
      "A grant whose node starts no work within this long lapses: the controller releases it and the node backs off (--abort-backoff). Also the slot Lease's leaseDurationSeconds, renewed while the node works, for people reading it: agents judge a grant by its identity, never by these times.",
  },
  {
    name: 'reboot-timeout',
    kind: 'single',
    ...boundedDuration('1m', '168h'),
    default: '30m',
    description:
      'A granted node that has not settled this long after its grant halts the rollout (no new grants until a person acts). Longer than --settle-time, which it includes.',
  },
  {
    name: 'settle-time',
    kind: 'single',
    ...boundedDuration('0', '24h'),
    aliases: ['lock-release-delay'],
    default: '0s',
    description:
      'How long a rebooted node must have been settled (Ready, uncordoned, its pods Ready, --health-query true) before its slot goes to the next node. Shorter than --reboot-timeout.',
    kuredFlag: 'lock-release-delay',
    kuredNote:
      'kured slept this long before releasing its lock; baton also requires the node to stay healthy meanwhile.',
  },
  {
    name: 'abort-backoff',
    kind: 'single',
    ...boundedDuration('1s', '24h'),
    default: '5m',
    description:
      'After a grant that ended without a reboot (the agent aborted: drain refused or timed out, reboot not happening, or the grant lapsed), the node waits this long before it is granted again, doubling with each further such grant in a row, up to 16×.',
  },
  {
    name: 'max-unavailable',
    kind: 'single',
    ...maxUnavailable,
    description:
      'A grant is made only if afterwards at most this many nodes (or this share of all nodes, rounded down) are unavailable: granted, NotReady or cordoned, whoever caused it. Unset: no limit beyond --concurrency.',
  },
  {
    name: 'group-label',
    kind: 'single',
    ...labelKey,
    description:
      'Node label that groups nodes (e.g. topology.kubernetes.io/zone) for --max-per-group. Nodes without the label form one group.',
  },
  {
    name: 'max-per-group',
    kind: 'single',
    ...integer({ min: 1, max: 1000 }),
    description:
      'At most this many grants at once within one value of --group-label. Unset with --group-label: 1.',
  },
  {
    name: 'priority-label',
    kind: 'single',
    ...labelKey,
    default: Label.Priority,
    description: 'Node label holding an integer priority; higher reboots first.',
  },
  {
    name: 'opt-out-label',
    kind: 'single',
    ...labelKey,
    default: Label.OptOut,
    description: 'Nodes with this label set to "true" are never granted a reboot.',
  },
  // --- schedule -------------------------------------------------------------------------------
  {
    name: 'reboot-days',
    kind: 'single',
    ...weekdays,
    default: 'su,mo,tu,we,th,fr,sa',
    description:
      'Days on which reboots may start (with --start-time and --end-time). Not with --reboot-window.',
    kuredFlag: 'reboot-days',
    kuredNote:
      'Same names; ranges such as mo-fr are new. An empty list, which kured read as "never", is an error: pause baton instead. One comma-separated value, not repeated flags.',
  },
  {
    name: 'start-time',
    kind: 'single',
    ...timeOfDay,
    default: '0:00',
    description:
      'Start of the daily reboot window, in --time-zone. After --end-time means the window wraps past midnight.',
    kuredFlag: 'start-time',
  },
  {
    name: 'end-time',
    kind: 'single',
    ...timeOfDay,
    default: '23:59:59',
    description: 'End of the daily reboot window, in --time-zone; the whole end second is inside the window.',
    kuredFlag: 'end-time',
    kuredNote: 'Equal start and end times, which kured read as the whole day, are refused.',
  },
  {
    name: 'time-zone',
    kind: 'single',
    ...timeZone,
    default: 'UTC',
    description: 'Time zone of the reboot windows and blackout dates.',
    kuredFlag: 'time-zone',
  },
  {
    name: 'reboot-window',
    kind: 'repeatable',
    ...rebootWindow,
    description:
      'A reboot window, "<days> <start>-<end>"; repeat the flag for several (a reboot may start inside any of them). Replaces --reboot-days, --start-time and --end-time.',
  },
  {
    name: 'blackout-date',
    kind: 'repeatable',
    ...date,
    separator: ',',
    description:
      'Dates (in --time-zone) on which no reboot starts, whatever the windows say. Repeat or separate by commas.',
  },
  // --- blockers -------------------------------------------------------------------------------
  {
    name: 'blocking-pod-selector',
    kind: 'repeatable',
    ...nonEmptyLabelSelector,
    description:
      'Pods matching this selector block reboots (see --blocking-pod-scope). Commas inside one selector mean AND; repeating the flag means OR.',
    kuredFlag: 'blocking-pod-selector',
    kuredNote:
      'Same semantics; it can also be set from the environment (one selector per line), which kured ignored.',
  },
  {
    name: 'blocking-pod-scope',
    kind: 'single',
    ...oneOf(['node', 'cluster']),
    default: 'node',
    description:
      'node: a matching pod blocks only the reboot of its own node (kured). cluster: a matching pod anywhere blocks every reboot.',
  },
  {
    name: 'prometheus-url',
    kind: 'single',
    ...httpUrl,
    description:
      'Prometheus to ask for active alerts (its /api/v1/alerts, once per --period) and for --health-query. Unset: no alert check.',
    kuredFlag: 'prometheus-url',
    kuredNote: 'Same; authentication and TLS are now possible with the --prometheus-*-file options.',
  },
  {
    name: 'alertmanager-url',
    kind: 'single',
    ...httpUrl,
    description:
      'Alertmanager to ask for active alerts (its /api/v2/alerts, once per --period); silenced and inhibited alerts do not block.',
  },
  {
    name: 'alert-filter-regexp',
    kind: 'single',
    ...regex,
    description:
      "Alerts whose name matches are ignored (or, with --alert-filter-match-only, are the only ones that block). Go's RE2 syntax and meaning, as kured reads it.",
    kuredFlag: 'alert-filter-regexp',
  },
  {
    name: 'alert-filter-match-only',
    kind: 'boolean',
    default: false,
    description: 'Only alerts whose name matches --alert-filter-regexp block.',
    kuredFlag: 'alert-filter-match-only',
  },
  {
    name: 'alert-firing-only',
    kind: 'boolean',
    default: false,
    description: 'Only firing alerts block; pending ones do not.',
    kuredFlag: 'alert-firing-only',
  },
  {
    name: 'alert-label-matcher',
    kind: 'repeatable',
    ...alertLabelMatcher,
    description:
      'Only alerts matching every one of these label matchers block (name=value, name!=value, name=~regex, name!~regex; repeat the flag).',
  },
  {
    name: 'prometheus-bearer-token-file',
    kind: 'single',
    ...path,
    description:
      'File holding a bearer token for --prometheus-url and --alertmanager-url; read at every request, so rotation works.',
  },
  {
    name: 'prometheus-basic-auth-file',
    kind: 'single',
    ...path,
    description:
      'File holding "user:password" for basic authentication to --prometheus-url and --alertmanager-url.',
  },
  {
    name: 'prometheus-ca-file',
    kind: 'single',
    ...path,
    description:
      'PEM file of the CA that signed the certificates of --prometheus-url and --alertmanager-url.',
  },
  {
    name: 'health-query',
    kind: 'single',
    ...nonEmptyString,
    description:
      'PromQL expression that must be true on --prometheus-url before a rebooted node\'s slot is released: at least one sample, every sample non-zero. Empty, zero, an error or an unreachable Prometheus mean "not settled" (the rollout halts at --reboot-timeout).',
  },
  // --- notifications --------------------------------------------------------------------------
  {
    name: 'notify-url',
    kind: 'repeatable',
    ...notifyUrl,
    sensitive: true,
    description:
      'Webhook that receives each reboot granted, finished, and the rollout halted or resumed. Slack (hooks.slack.com) gets its text, Teams Workflows (*.logic.azure.com, *.api.powerplatform.com) an Adaptive Card, others generic JSON; #slack, #teams or #json at the end of the URL chooses. Repeat for several.',
    kuredFlag: 'notify-url',
    kuredNote:
      'kured took one shoutrrr URL (slack://…); baton takes the https:// webhook URL itself (Slack, Teams or generic JSON), several allowed.',
  },
  // --- process --------------------------------------------------------------------------------
  {
    name: 'metrics-host',
    kind: 'single',
    ...listenHost,
    default: '0.0.0.0',
    description:
      'Address the HTTP server (/metrics, /healthz, /readyz and the read-only API under /api/v1) listens on.',
    kuredFlag: 'metrics-host',
    kuredNote: 'kured\'s default "" (all interfaces) is written 0.0.0.0 (or ::) here.',
  },
  {
    name: 'metrics-port',
    kind: 'single',
    ...port,
    default: '8080',
    description: 'Port of the HTTP server.',
    kuredFlag: 'metrics-port',
  },
  {
    name: 'kured-metric',
    kind: 'boolean',
    default: false,
    description:
      "Also export kured's gauge kured_reboot_required{node} (1 while the node's RebootRequired condition is True, else 0; kured's pods each exported their own node's), so that dashboards and alerts written for kured keep working during and after the move.",
  },
  ...loggingOptions,
  {
    name: 'leader-elect',
    kind: 'boolean',
    default: true,
    description:
      'Elect a leader among replicas through a Lease; only the leader grants. Turn off only for a single replica.',
  },
  {
    name: 'leader-election-lease-duration',
    kind: 'single',
    ...boundedDuration('1s', '1h', 'such as 15s or 1m'),
    default: '15s',
    description:
      'How long a lost leader is waited for before another replica takes over (the leader Lease holds it in whole seconds).',
  },
  {
    name: 'leader-election-renew-deadline',
    kind: 'single',
    ...boundedDuration('1ms', '30m', 'such as 500ms, 10s or 1m'),
    default: '10s',
    description:
      'The leader gives up leadership if it cannot renew within this time (less than the lease duration).',
  },
  {
    name: 'leader-election-retry-period',
    kind: 'single',
    ...boundedDuration('1ms', '10m', 'such as 500ms, 2s or 1m'),
    default: '2s',
    description: 'Interval between attempts to acquire or renew leadership (less than the renew deadline).',
  },
  {
    name: 'kubeconfig',
    kind: 'single',
    ...path,
    env: ['KUBECONFIG'],
    description: 'Kubeconfig file, for running outside the cluster. Unset: the in-cluster service account.',
  },
]);

export type ControllerOptions = OptionValues<typeof controllerOptions>;

/** The controller's configuration: the options plus fields derived from them. */
export type ControllerConfig = ControllerOptions & {
  /**
   * The reboot windows in effect: the --reboot-window values if any were given, else the one
   * window made of --reboot-days, --start-time and --end-time.
   */
  readonly windows: readonly RebootWindow[];
};

/** Parses argv and env; throws a ConfigError listing every problem. */
export function parseControllerConfig(input: OptionInput): ControllerConfig {
  const collected = collectOptions(controllerOptions, input, {
    unknownFlagHints: kuredFlagHints('controller'),
  });
  checkControllerRules(collected);
  const { rebootWindow: windows = [], rebootDays = [], startTime = 0, endTime = 0 } = collected.values;
  return finishOptions(collected, {
    windows:
      windows.length > 0 ? windows : [{ days: rebootDays, startSeconds: startTime, endSeconds: endTime }],
  });
}

/** Cross-option rules. They see what was given (not only values) and run even if a value failed. */
function checkControllerRules(collected: CollectedOptions<ControllerOptions>): void {
  const { values, issues } = collected;
  const given = (key: keyof ControllerOptions) => givenOrigin(collected, key);
  /** Two options whose values contradict: blame the one that was given (both defaults never clash). */
  const clash = (a: keyof ControllerOptions, b: keyof ControllerOptions, expected: string) => {
    const first = given(a) ?? given(b);
    const second = given(a) !== undefined ? collected.origins[b] : collected.origins[a];
    if (first !== undefined && second !== undefined) issues.push(combinationIssue(first, second, expected));
  };

  // One way to say when: the kured-style trio or windows, never a mix nobody could read.
  const window = given('rebootWindow');
  if (window !== undefined) {
    for (const key of ['rebootDays', 'startTime', 'endTime'] as const) {
      const other = given(key);
      if (other !== undefined) {
        issues.push(
          combinationIssue(
            other,
            window,
            'either --reboot-window or --reboot-days/--start-time/--end-time, not both',
          ),
        );
      }
    }
  } else if (values.startTime !== undefined && values.startTime === values.endTime) {
    clash('startTime', 'endTime', 'different start and end times; for the whole day 0:00 and 23:59:59');
  }

  // Alert filters and Prometheus settings do nothing without a source to apply them to.
  const alertSource = given('prometheusUrl') ?? given('alertmanagerUrl');
  const needsSource: readonly (keyof ControllerOptions)[] = [
    'alertFilterRegexp',
    'alertLabelMatcher',
    'prometheusBearerTokenFile',
    'prometheusBasicAuthFile',
    'prometheusCaFile',
  ];
  if (alertSource === undefined) {
    for (const key of needsSource) {
      const origin = given(key);
      if (origin !== undefined) {
        issues.push(
          requirementIssue(
            origin,
            '--prometheus-url or --alertmanager-url',
            'an alert source to apply it to',
          ),
        );
      }
    }
    const firingOnly = given('alertFiringOnly');
    if (firingOnly !== undefined && values.alertFiringOnly === true) {
      issues.push(
        requirementIssue(
          firingOnly,
          '--prometheus-url or --alertmanager-url',
          'an alert source to apply it to',
        ),
      );
    }
  }
  const matchOnly = given('alertFilterMatchOnly');
  if (
    matchOnly !== undefined &&
    values.alertFilterMatchOnly === true &&
    given('alertFilterRegexp') === undefined
  ) {
    issues.push(
      requirementIssue(matchOnly, '--alert-filter-regexp', 'a regexp naming the only alerts that block'),
    );
  }
  const healthQuery = given('healthQuery');
  if (healthQuery !== undefined && given('prometheusUrl') === undefined) {
    issues.push(requirementIssue(healthQuery, '--prometheus-url', 'a Prometheus to evaluate the query on'));
  }
  const bearer = given('prometheusBearerTokenFile');
  const basic = given('prometheusBasicAuthFile');
  if (bearer !== undefined && basic !== undefined) {
    issues.push(
      combinationIssue(
        bearer,
        basic,
        'one kind of authentication (a request carries one Authorization header)',
      ),
    );
  }

  const maxPerGroup = given('maxPerGroup');
  if (maxPerGroup !== undefined && given('groupLabel') === undefined) {
    issues.push(requirementIssue(maxPerGroup, '--group-label', 'the node label that forms the groups'));
  }

  // The reboot timeout runs from the grant until the slot is released, settling included: a
  // settle time as long as the timeout would halt the rollout after every reboot.
  const { settleTime, rebootTimeout } = values;
  if (settleTime !== undefined && rebootTimeout !== undefined && settleTime >= rebootTimeout) {
    clash(
      'settleTime',
      'rebootTimeout',
      'a settle time shorter than the reboot timeout (which counts the settling too)',
    );
  }

  // client-go's rules for leader election: otherwise two leaders can overlap.
  const {
    leaderElectionLeaseDuration: lease,
    leaderElectionRenewDeadline: renew,
    leaderElectionRetryPeriod: retry,
  } = values;
  if (lease !== undefined && renew !== undefined && renew >= lease) {
    clash(
      'leaderElectionRenewDeadline',
      'leaderElectionLeaseDuration',
      'a renew deadline shorter than the lease duration',
    );
  }
  if (renew !== undefined && retry !== undefined && retry >= renew) {
    clash(
      'leaderElectionRetryPeriod',
      'leaderElectionRenewDeadline',
      'a retry period shorter than the renew deadline',
    );
  }
}
