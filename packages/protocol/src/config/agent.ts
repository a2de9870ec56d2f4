/**
 * The agent's options: how it notices that its node needs a reboot, how it drains and reboots.
 *
 * Per-option syntax is checked by the table; the rules at the bottom check combinations.
 */
import { REBOOTING_TAINT } from '../protocol.ts';
import { combinationIssue, invalidValueIssue } from './errors.ts';
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
import { type LabelPair, labelKey, labelPair, labelSelector, taint } from './labels.ts';
import { loggingOptions } from './logging.ts';
import { boundedDuration, boundedDurationOrSeconds } from './time.ts';
import {
  absolutePath,
  commandLine,
  integer,
  listenHost,
  namespaceName,
  nodeName,
  oneOf,
  path,
  port,
  signalNumber,
} from './values.ts';

export const DRAIN_TIMEOUT_POLICIES = ['abort', 'force'] as const;
export type DrainTimeoutPolicy = (typeof DRAIN_TIMEOUT_POLICIES)[number];

export const agentOptions = defineOptions([
  // --- identity -------------------------------------------------------------------------------
  {
    name: 'node-id',
    kind: 'single',
    ...nodeName,
    env: ['KURED_NODE_ID', 'NODE_NAME'],
    required: 'set from the downward API spec.nodeName',
    description:
      'Name of the node this agent runs on. The chart sets NODE_NAME from the downward API (spec.nodeName).',
    kuredFlag: 'node-id',
    kuredNote: "Also read from kured's KURED_NODE_ID, so kured manifests keep working.",
  },
  {
    name: 'namespace',
    kind: 'single',
    ...namespaceName,
    env: ['POD_NAMESPACE'],
    default: 'baton',
    description: "Namespace of the slot Leases (the controller's --namespace). The chart sets POD_NAMESPACE.",
  },
  // --- sentinel -------------------------------------------------------------------------------
  {
    name: 'reboot-sentinel',
    kind: 'single',
    ...absolutePath,
    default: '/var/run/reboot-required',
    description:
      "File whose existence means the node needs a reboot. This is the path INSIDE the agent container: the chart mounts the sentinel's host directory read-only under /host and passes the container path (the host's /var/run/reboot-required is /host/var/run/reboot-required; set the chart value agent.sentinel.file to the host path).",
    kuredFlag: 'reboot-sentinel',
    kuredNote:
      "kured's manifests mounted the host's /var/run at /sentinel and passed /sentinel/reboot-required; with baton's chart give the host path in agent.sentinel.file.",
  },
  {
    name: 'reboot-sentinel-command',
    kind: 'single',
    ...commandLine,
    description:
      'Command run in the host\'s mount namespace instead of checking the file: exit 0 means a reboot is needed, 1 not needed, anything else (127 "command not found" too) unknown, which never reboots. Not together with --reboot-sentinel.',
    kuredFlag: 'reboot-sentinel-command',
    kuredNote:
      'kured counted other exit codes as "not needed"; `sh -c "! cmd"` turned a missing command into a reboot every period (#976). Make the command exit 1 when no reboot is needed.',
  },
  {
    name: 'sentinel-poll-interval',
    kind: 'single',
    ...boundedDuration('1ms', '1h', 'such as 500ms, 1s or 1m'),
    default: '1s',
    description: 'How often the sentinel is checked.',
  },
  {
    name: 'heartbeat-interval',
    kind: 'single',
    ...boundedDuration('1ms', '24h', 'such as 30s, 5m or 1h'),
    default: '5m',
    description:
      "The node's RebootRequired condition is rewritten at least this often, even without a change, so a dead agent can be told from a quiet one.",
  },
  // --- drain ----------------------------------------------------------------------------------
  {
    name: 'drain-grace-period',
    kind: 'single',
    ...integer({
      min: -1,
      max: 86_400,
      expected: "an integer of seconds from 0 to 86400 (24h), or -1 for each pod's own grace period",
    }),
    default: '-1',
    description:
      "Seconds each evicted pod gets to terminate; -1: the pod's own terminationGracePeriodSeconds.",
    kuredFlag: 'drain-grace-period',
  },
  {
    name: 'drain-timeout',
    kind: 'single',
    ...boundedDuration('0', '24h'),
    default: '30m',
    description:
      'Stop draining after this long and apply --drain-timeout-policy. 0: never stop (a PodDisruptionBudget can then hold the node forever).',
    kuredFlag: 'drain-timeout',
    kuredNote: "kured's default 0 waited forever; baton's default is 30m. 0 still means no timeout.",
  },
  {
    name: 'drain-timeout-policy',
    kind: 'single',
    ...oneOf(DRAIN_TIMEOUT_POLICIES),
    default: 'abort',
    description:
      'What a drain timeout leads to. abort: uncordon, give the grant back, retry later. force: reboot anyway (pods still running are killed by the reboot).',
  },
  {
    name: 'force-reboot',
    kind: 'boolean',
    default: false,
    description:
      'Reboot even when the drain cannot finish, as kured does: a drain that times out (--drain-timeout-policy=force) and a drain refused because of pods it may not evict; those pods are killed by the reboot.',
    kuredFlag: 'force-reboot',
    kuredNote:
      'A cordon that fails is retried, not forced past: an uncordoned node would take new pods while it reboots.',
  },
  {
    name: 'skip-wait-for-delete-timeout',
    kind: 'single',
    ...boundedDurationOrSeconds('24h'),
    default: '0s',
    description: 'Pods deleted longer ago than this are no longer waited for. 0: wait for every pod.',
    kuredFlag: 'skip-wait-for-delete-timeout',
    kuredNote:
      'kured took whole seconds; a bare number still means seconds, and durations such as 5m work too.',
  },
  {
    name: 'drain-pod-selector',
    kind: 'single',
    ...labelSelector,
    description:
      'Only pods matching this label selector are evicted. Unset: every pod except DaemonSet pods.',
    kuredFlag: 'drain-pod-selector',
  },
  {
    name: 'drain-delay',
    kind: 'single',
    ...boundedDuration('0', '24h'),
    default: '0s',
    description: 'Wait this long before the drain starts.',
    kuredFlag: 'drain-delay',
  },
  {
    name: 'delete-emptydir-data',
    kind: 'boolean',
    default: true,
    description: 'Evict pods with emptyDir volumes (that data is lost). false: such pods stop the drain.',
    kuredNote: 'kured always did this.',
  },
  {
    name: 'evict-unmanaged-pods',
    kind: 'boolean',
    default: true,
    description: 'Evict pods no controller owns (nothing recreates them). false: such pods stop the drain.',
    kuredNote: 'kured always did this (kubectl drain --force).',
  },
  {
    name: 'eviction-retry-backoff',
    kind: 'single',
    ...boundedDuration('1ms', '1h', 'such as 500ms, 5s or 1m'),
    default: '5s',
    description:
      'Wait between attempts to evict a pod whose PodDisruptionBudget refuses the eviction. Shorter than --drain-timeout.',
    kuredNote: 'kured retried every 5s, fixed.',
  },
  // --- reboot ---------------------------------------------------------------------------------
  {
    name: 'reboot-method',
    kind: 'single',
    ...oneOf(['command', 'signal']),
    default: 'command',
    description:
      "command: run --reboot-command in the host's mount namespace (hostPID with CAP_SYS_ADMIN, CAP_SYS_CHROOT and CAP_SYS_PTRACE; not privileged). signal: send --reboot-signal to the host's PID 1 (hostPID and CAP_KILL only).",
    kuredFlag: 'reboot-method',
  },
  {
    name: 'reboot-command',
    kind: 'single',
    ...commandLine,
    default: '/bin/systemctl reboot',
    description: "Command run in the host's mount namespace to reboot, with --reboot-method=command.",
    kuredFlag: 'reboot-command',
  },
  {
    name: 'reboot-signal',
    kind: 'single',
    ...signalNumber,
    default: '39',
    description: 'Signal sent to PID 1 with --reboot-method=signal; 39 (SIGRTMIN+5) makes systemd reboot.',
    kuredFlag: 'reboot-signal',
  },
  {
    name: 'reboot-delay',
    kind: 'single',
    ...boundedDuration('0', '24h'),
    default: '0s',
    description: 'Wait this long between the end of the drain and the reboot.',
    kuredFlag: 'reboot-delay',
  },
  {
    name: 'shutdown-grace',
    kind: 'single',
    ...boundedDuration('0', '24h'),
    default: '10m',
    description:
      'How long a machine may take to go down after the reboot command. An agent restarted on the same boot with a reboot on record and no valid grant waits this long from the recorded request before it concludes the reboot never happened and uncordons; until then the node stays cordoned and keeps its slot.',
    kuredNote: 'kured has no such wait.',
  },
  {
    name: 'host-mount-namespace',
    kind: 'boolean',
    default: true,
    description:
      "Run --reboot-sentinel-command and --reboot-command through nsenter in PID 1's mount namespace, i.e. on the host (the pod needs hostPID). false only when the agent itself runs on the host, as in baton's own tests.",
    kuredNote: 'kured always used nsenter.',
  },
  {
    name: 'max-reboot-attempts',
    kind: 'single',
    ...integer({ min: 1, max: 100 }),
    default: '3',
    description:
      'Reboots in a row after which a sentinel that is still there holds the node (no more reboots until a person removes the baton.dev/reboot-attempts annotation).',
  },
  // --- node metadata --------------------------------------------------------------------------
  {
    name: 'pre-reboot-node-labels',
    kind: 'repeatable',
    ...labelPair,
    separator: ',',
    description: 'Labels set on the node before it is cordoned (key=value; repeat or separate by commas).',
    kuredFlag: 'pre-reboot-node-labels',
    kuredNote: 'An entry without "=", which made kured panic, is an error.',
  },
  {
    name: 'post-reboot-node-labels',
    kind: 'repeatable',
    ...labelPair,
    separator: ',',
    description: 'Labels set on the node after it is uncordoned (key=value; repeat or separate by commas).',
    kuredFlag: 'post-reboot-node-labels',
  },
  {
    name: 'pre-reboot-taint',
    kind: 'single',
    ...taint,
    description: `Taint added to the node before it is drained and removed after the reboot, besides baton's own ${REBOOTING_TAINT.key}.`,
  },
  {
    name: 'annotate-nodes',
    kind: 'boolean',
    default: false,
    description:
      "Also write kured's node annotations: weave.works/kured-reboot-in-progress and weave.works/kured-most-recent-reboot-needed, set to the time the node came to need a reboot; the first is removed once it needs nothing, the second stays.",
    kuredFlag: 'annotate-nodes',
    kuredNote:
      "kured wrote them only inside its reboot window; here the need alone decides (the window is the controller's).",
  },
  {
    name: 'prefer-no-schedule-taint',
    kind: 'single',
    ...labelKey,
    description:
      'Taint key put on the node with effect PreferNoSchedule while it waits for a slot (its RebootGate condition says WaitingForSlot) and taken off once it is granted or needs nothing, so that new pods go to nodes that will not be drained soon. Unset: no such taint.',
    kuredFlag: 'prefer-no-schedule-taint',
    kuredNote:
      'kured put it on while another node held its lock; here while the controller says the node waits for a slot (not while a window, a pause or an alert holds it).',
  },
  // --- process --------------------------------------------------------------------------------
  {
    name: 'metrics-host',
    kind: 'single',
    ...listenHost,
    default: '0.0.0.0',
    description: 'Address the HTTP server (/metrics, /healthz, /readyz) listens on.',
    kuredFlag: 'metrics-host',
    kuredNote: 'kured\'s default "" (all interfaces) is written 0.0.0.0 (or ::) here.',
  },
  {
    name: 'metrics-port',
    kind: 'single',
    ...port,
    default: '8081',
    description: 'Port of the HTTP server.',
    kuredFlag: 'metrics-port',
    kuredNote: "kured's default was 8080 (the controller's default here).",
  },
  ...loggingOptions,
  {
    name: 'kubeconfig',
    kind: 'single',
    ...path,
    env: ['KUBECONFIG'],
    description: 'Kubeconfig file, for running outside the cluster. Unset: the in-cluster service account.',
  },
]);

export type AgentOptions = OptionValues<typeof agentOptions>;

/** The agent's configuration: the options, with the drain timeout policy made effective. */
export type AgentConfig = Omit<AgentOptions, 'drainTimeoutPolicy'> & {
  /** --drain-timeout-policy, or `force` when --force-reboot is set. */
  readonly drainTimeoutPolicy: DrainTimeoutPolicy;
};

/** Parses argv and env; throws a ConfigError listing every problem. */
export function parseAgentConfig(input: OptionInput): AgentConfig {
  const collected = collectOptions(agentOptions, input, { unknownFlagHints: kuredFlagHints('agent') });
  checkAgentRules(collected);
  const { forceReboot, drainTimeoutPolicy = 'abort' } = collected.values;
  return finishOptions(collected, {
    drainTimeoutPolicy: forceReboot === true ? 'force' : drainTimeoutPolicy,
  });
}

/** Cross-option rules. They see what was given (not only values) and run even if a value failed. */
function checkAgentRules(collected: CollectedOptions<AgentOptions>): void {
  const { values, issues } = collected;
  const given = (key: keyof AgentOptions) => givenOrigin(collected, key);

  // The command replaces the file; a file path given as well would be silently ignored.
  const sentinelCommand = given('rebootSentinelCommand');
  const sentinelFile = given('rebootSentinel');
  if (sentinelCommand !== undefined && sentinelFile !== undefined) {
    issues.push(
      combinationIssue(
        sentinelCommand,
        sentinelFile,
        'either a sentinel command or a sentinel file, not both',
      ),
    );
  }

  // Settings of the reboot method not in use would be silently ignored.
  const method = collected.origins.rebootMethod;
  const rebootCommand = given('rebootCommand');
  const rebootSignal = given('rebootSignal');
  if (method !== undefined && values.rebootMethod === 'signal' && rebootCommand !== undefined) {
    issues.push(
      combinationIssue(rebootCommand, method, '--reboot-command only with --reboot-method=command'),
    );
  }
  if (method !== undefined && values.rebootMethod === 'command' && rebootSignal !== undefined) {
    issues.push(combinationIssue(rebootSignal, method, '--reboot-signal only with --reboot-method=signal'));
  }

  // --force-reboot is a second spelling of the policy; two spellings must agree.
  const force = given('forceReboot');
  const policy = given('drainTimeoutPolicy');
  if (
    force !== undefined &&
    policy !== undefined &&
    values.forceReboot !== undefined &&
    values.drainTimeoutPolicy !== undefined
  ) {
    if (values.forceReboot !== (values.drainTimeoutPolicy === 'force')) {
      issues.push(
        combinationIssue(
          force,
          policy,
          '--force-reboot=true with --drain-timeout-policy=force, or only one of them',
        ),
      );
    }
  }
  // Without a timeout the policy never applies (kured's --force-reboot trap with --drain-timeout=0).
  const timeout = given('drainTimeout');
  const forcing =
    values.forceReboot === true ? force : values.drainTimeoutPolicy === 'force' ? policy : undefined;
  if (timeout !== undefined && values.drainTimeout === 0 && forcing !== undefined) {
    issues.push(
      combinationIssue(
        forcing,
        timeout,
        'a --drain-timeout greater than 0 for a forced reboot to ever happen',
      ),
    );
  }

  // A refused eviction retried no sooner than the drain gives up is never retried at all.
  const backoff = given('evictionRetryBackoff');
  if (
    values.drainTimeout !== undefined &&
    values.drainTimeout > 0 &&
    values.evictionRetryBackoff !== undefined &&
    values.evictionRetryBackoff >= values.drainTimeout
  ) {
    const first = backoff ?? timeout;
    const second =
      backoff !== undefined ? collected.origins.drainTimeout : collected.origins.evictionRetryBackoff;
    if (first !== undefined && second !== undefined) {
      issues.push(
        combinationIssue(
          first,
          second,
          'an eviction retry backoff shorter than the drain timeout (or --drain-timeout=0)',
        ),
      );
    }
  }

  for (const key of ['preRebootNodeLabels', 'postRebootNodeLabels'] as const) {
    const origin = collected.origins[key];
    const duplicate = firstDuplicateKey(values[key] ?? []);
    if (origin !== undefined && duplicate !== undefined) {
      issues.push(
        invalidValueIssue(
          origin.source,
          duplicate,
          'each label key once',
          `label "${duplicate}" is given twice`,
        ),
      );
    }
  }

  const extraTaint = given('preRebootTaint');
  if (extraTaint !== undefined && values.preRebootTaint?.key === REBOOTING_TAINT.key) {
    issues.push(
      invalidValueIssue(
        extraTaint.source,
        extraTaint.value,
        "a taint key other than baton's own",
        `${REBOOTING_TAINT.key} is set by the agent itself`,
      ),
    );
  }
}

function firstDuplicateKey(pairs: readonly LabelPair[]): string | undefined {
  const seen = new Set<string>();
  for (const { key } of pairs) {
    if (seen.has(key)) return key;
    seen.add(key);
  }
  return undefined;
}
