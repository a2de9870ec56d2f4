/**
 * The agent process: wires the sentinel, the reporter and the grant-driven state machine to the
 * API server, and exposes /healthz, /readyz and /metrics (the runtime's node:http server: fastify
 * would cost the agent 7.7 MiB, docs/benchmarks.md "fastify in the agent").
 *
 * Built (`buildAgent`: the API client, the watches, the sentinel, the reporter, the state
 * machine; nothing runs yet), then started (`startAgent`: the sentinel monitor, the watches, the
 * timers), each a list of named steps.
 */
import { SLOT_LEASE_PREFIX } from '@baton/protocol';
import { type AgentConfig, agentOptions, describeOptions, parseAgentConfig } from '@baton/protocol/config';
import {
  type Component,
  createKubeClient,
  formatUsage,
  isNotFound,
  type KubeClient,
  kubeListWatchSource,
  type Logger,
  loadKubeConnection,
  type ProcessSpec,
  type RunContext,
  type Running,
  spreadWatchTimeouts,
  superviseInformer,
  wallClock,
} from '@baton/runtime';
import type { V1Lease, V1Node } from '@kubernetes/client-node';
import {
  createKubeDrainApi,
  type DrainLog,
  drainNode,
  drainOptionsFromConfig,
  systemClock,
} from '../drain/index.ts';
import { rebooterFor } from '../host/rebooter.ts';
import { kubeDrainCore, kubeEventSink, kubeNodeApi, type NodeApi } from '../kube/agent-api.ts';
import { agentMetrics } from '../observe/metrics.ts';
import { Agent } from '../reboot/agent.ts';
import { kuredAnnotationsPatch } from '../reboot/kured-annotations.ts';
import { waitingTaintChange, waitsForSlot } from '../reboot/waiting-taint.ts';
import { type SentinelMonitor, startSentinelMonitor } from '../sentinel/monitor.ts';
import { Reporter } from '../sentinel/reporter.ts';
import { commandSentinel, fileSentinel, type Sentinel, type SentinelReading } from '../sentinel/sentinel.ts';

/** The drain engine names the node in its log fields; every line already carries it. */
function withoutNodeField(log: Logger): DrainLog {
  const strip =
    (fn: (obj: object, msg: string) => void) =>
    (obj: object, msg: string): void => {
      const { node: _node, ...rest } = obj as { node?: unknown };
      fn(rest, msg);
    };
  return {
    debug: strip((o, m) => log.debug(o, m)),
    info: strip((o, m) => log.info(o, m)),
    warn: strip((o, m) => log.warn(o, m)),
    error: strip((o, m) => log.error(o, m)),
  };
}

/** How often the agent re-evaluates even without a change (a missed event heals within this). */
const RECONCILE_INTERVAL_MS = 5_000;
const SENTINEL_COMMAND_TIMEOUT_MS = 60_000;

export const agentProcess: ProcessSpec<AgentConfig> = {
  name: 'baton-agent',
  parseConfig: parseAgentConfig,
  usage: () =>
    formatUsage(
      'baton-agent',
      'Reports whether its node needs a reboot, and drains and reboots it when the controller grants it.',
      describeOptions(agentOptions),
    ),
  logBindings: (config) => ({ node: config.nodeId }),
  build: (ctx) => buildAgent(ctx),
};

/** Builds every part; nothing watches, polls or ticks until `start`. */
async function buildAgent(ctx: RunContext<AgentConfig>): Promise<Component> {
  const { config, log, registry } = ctx;
  const now = wallClock();
  const client = createKubeClient(await loadKubeConnection(config.kubeconfig), {
    userAgent: 'baton-agent',
  });
  log.info({ apiServer: client.description }, 'connecting to the API server');
  const metrics = agentMetrics(registry);
  const nodeApi = kubeNodeApi(client, config.nodeId);
  const watches = buildWatches(config, client, log);
  const sentinel = buildSentinel(config);
  const reporter = new Reporter({
    node: nodeApi,
    maxRebootAttempts: config.maxRebootAttempts,
    heartbeatMs: config.heartbeatInterval,
    now,
  });
  const readings = laterMonitor();
  const agent = buildStateMachine(ctx, { client, nodeApi, watches, readings, metrics, now });
  return {
    start: async () =>
      startAgent(ctx, { client, nodeApi, watches, sentinel, reporter, readings, agent, metrics }),
  };
}

/**
 * An agent's watches are asked to last 30 to 60 minutes: on every node of the cluster, each
 * renewal is a request per node (spreadWatchTimeouts says why that is safe).
 */
const AGENT_WATCH_TIMEOUTS = { minSeconds: 30 * 60, maxSeconds: 60 * 60 };

/** Step: the watches of its own Node and of the namespace's Leases. */
function buildWatches(config: AgentConfig, client: KubeClient, log: Logger) {
  const nodes = superviseInformer<V1Node>({
    name: 'node',
    source: kubeListWatchSource(client, '/api/v1/nodes', {
      fieldSelector: `metadata.name=${config.nodeId}`,
      watchTimeoutSeconds: spreadWatchTimeouts(AGENT_WATCH_TIMEOUTS),
    }),
    log,
  });
  const leases = superviseInformer<V1Lease>({
    name: 'leases',
    source: kubeListWatchSource(
      client,
      `/apis/coordination.k8s.io/v1/namespaces/${config.namespace}/leases`,
      {
        watchTimeoutSeconds: spreadWatchTimeouts(AGENT_WATCH_TIMEOUTS),
      },
    ),
    log,
  });
  return { nodes, leases };
}
type Watches = ReturnType<typeof buildWatches>;

/** Step: the sentinel, a command (in the host's mount namespace) or a file. */
function buildSentinel(config: AgentConfig): Sentinel {
  return config.rebootSentinelCommand
    ? commandSentinel(config.rebootSentinelCommand, {
        hostMountNamespace: config.hostMountNamespace,
        timeoutMs: SENTINEL_COMMAND_TIMEOUT_MS,
      })
    : fileSentinel(config.rebootSentinel);
}

/** The sentinel monitor starts with the agent; the state machine, built before, asks through this. */
function laterMonitor() {
  let monitor: SentinelMonitor | undefined;
  return {
    set(m: SentinelMonitor): void {
      monitor = m;
    },
    checkNow(): Promise<SentinelReading> {
      return monitor === undefined
        ? Promise.reject(new Error('the sentinel monitor has not started'))
        : monitor.checkNow();
    },
    current: (): SentinelReading | undefined => monitor?.current(),
    stop: () => monitor?.stop(),
  };
}
type Readings = ReturnType<typeof laterMonitor>;

/** Step: the grant-driven state machine (cordon, drain, reboot, verify), with its side effects. */
function buildStateMachine(
  { config, log }: RunContext<AgentConfig>,
  p: {
    readonly client: KubeClient;
    readonly nodeApi: ReturnType<typeof kubeNodeApi>;
    readonly watches: Watches;
    readonly readings: Readings;
    readonly metrics: ReturnType<typeof agentMetrics>;
    readonly now: () => Date;
  },
): Agent {
  const { client, watches, readings, metrics } = p;
  const { nodes, leases } = watches;
  const drainApi = createKubeDrainApi(kubeDrainCore(client));
  return new Agent(
    {
      nodeName: config.nodeId,
      maxRebootAttempts: config.maxRebootAttempts,
      drainDelayMs: config.drainDelay,
      rebootDelayMs: config.rebootDelay,
      shutdownGraceMs: config.shutdownGrace,
      drainTimeoutPolicy: config.drainTimeoutPolicy,
      forceRefusedDrain: config.forceReboot,
      preRebootLabels: config.preRebootNodeLabels,
      postRebootLabels: config.postRebootNodeLabels,
      preRebootTaint: config.preRebootTaint,
    },
    {
      node: p.nodeApi,
      watchedNode: () => (nodes.synced() ? nodes.get(config.nodeId) : undefined),
      events: kubeEventSink(client, config.nodeId, log),
      leases: { list: () => leases.list(), synced: () => leases.synced() },
      readSlot: async (name) => {
        try {
          return await client.request<V1Lease>({
            method: 'GET',
            path: `/apis/coordination.k8s.io/v1/namespaces/${config.namespace}/leases/${encodeURIComponent(name)}`,
          });
        } catch (err) {
          if (isNotFound(err)) return undefined;
          throw err;
        }
      },
      checkSentinel: () => readings.checkNow(),
      lastReading: () => readings.current(),
      drain: async (stillGranted, overrides) => {
        const timer = metrics.drainDuration.startTimer();
        try {
          return await drainNode(
            config.nodeId,
            {
              api: drainApi,
              clock: systemClock,
              log: withoutNodeField(log),
              stillGranted,
              onEvent: metrics.onDrainEvent,
            },
            { ...drainOptionsFromConfig(config), ...overrides },
          );
        } finally {
          timer();
        }
      },
      rebooter: rebooterFor(config),
      clock: {
        now: p.now,
        monotonicMs: () => performance.now(),
        sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      },
      log,
      onPhase: (phase) => metrics.setPhase(phase),
    },
  );
}

/** Starts the sentinel monitor, the watches and the timers; returns how to stop them. */
function startAgent(
  { config, log, setReadiness }: RunContext<AgentConfig>,
  p: {
    readonly client: KubeClient;
    readonly nodeApi: NodeApi;
    readonly watches: Watches;
    readonly sentinel: Sentinel;
    readonly reporter: Reporter;
    readonly readings: Readings;
    readonly agent: Agent;
    readonly metrics: ReturnType<typeof agentMetrics>;
  },
): Running {
  const { nodes, leases } = p.watches;
  const { sentinel, readings } = p;
  let stopped = false;
  const report = () => {
    const reading = readings.current();
    if (reading === undefined || stopped || !nodes.synced()) return;
    p.reporter.report(reading, nodes.get(config.nodeId)).then(
      (patched) =>
        patched && log.info({ status: reading.status, reason: reading.reason }, 'reported RebootRequired'),
      (err: unknown) => log.warn({ err: String(err) }, 'could not report the RebootRequired condition'),
    );
  };
  const reconcile = () => {
    // No decision without a current view of the node and the grants.
    if (stopped || !nodes.synced() || !leases.synced()) return;
    p.agent
      .reconcile()
      .catch((err: unknown) =>
        log.error({ err: String(err) }, 'reconcile failed; retrying on the next change'),
      );
  };
  readings.set(
    startSentinelMonitor(sentinel, {
      pollMs: config.sentinelPollInterval,
      onCheck: (r) => p.metrics.sentinelChecked(r),
      onChange: (r) => {
        log.info(
          { sentinel: sentinel.description, status: r.status, reason: r.reason, message: r.message },
          'sentinel reading changed',
        );
        report();
        reconcile();
      },
    }),
  );
  // kured's --prefer-no-schedule-taint: on while the node waits for a slot (waiting-taint.ts).
  const taintKey = config.preferNoScheduleTaint;
  let tainting = false;
  const keepWaitingTaint = () => {
    if (taintKey === undefined || tainting || stopped || !nodes.synced()) return;
    const node = nodes.get(config.nodeId);
    if (node === undefined || waitingTaintChange(node, taintKey) === undefined) return;
    tainting = true;
    p.nodeApi
      .update((n) => waitingTaintChange(n, taintKey))
      .then(
        (n) => log.info({ taint: taintKey, on: waitsForSlot(n) }, 'waiting-for-a-slot taint updated'),
        (err: unknown) =>
          log.warn({ err: String(err), taint: taintKey }, 'could not update the waiting taint'),
      )
      .finally(() => {
        tainting = false;
      });
  };
  // kured's --annotate-nodes: its two annotations follow the node's reported need.
  let annotating = false;
  const keepKuredAnnotations = () => {
    if (!config.annotateNodes || annotating || stopped || !nodes.synced()) return;
    const node = nodes.get(config.nodeId);
    const patch = node === undefined ? undefined : kuredAnnotationsPatch(node, new Date());
    if (patch === undefined) return;
    annotating = true;
    p.nodeApi
      .patchMetadata(patch)
      .then(
        () => log.info({ annotations: patch.annotations }, "kured's node annotations updated"),
        (err: unknown) => log.warn({ err: String(err) }, "could not update kured's node annotations"),
      )
      .finally(() => {
        annotating = false;
      });
  };
  nodes.onChange(() => {
    report();
    reconcile();
    keepWaitingTaint();
    keepKuredAnnotations();
  });
  // Slot Leases only (and relists): the controller's leader Lease renews every few seconds.
  leases.onChange((_event, lease) => {
    if (lease === undefined || lease.metadata?.name?.startsWith(SLOT_LEASE_PREFIX)) reconcile();
  });

  // The watches sync in the background (retrying while the API server is unreachable); until
  // then /readyz says why, and the agent decides nothing: no view of the grants, no action.
  setReadiness({ ready: false, reason: 'waiting for the node and Lease watches to sync' });
  void Promise.all([nodes.start(), leases.start()]).then(() => {
    if (stopped) return;
    log.info('watches synced');
    report();
    reconcile();
  });
  const heartbeat = setInterval(report, Math.max(1000, Math.floor(config.heartbeatInterval / 4)));
  const tick = setInterval(reconcile, RECONCILE_INTERVAL_MS);
  const readinessTimer = setInterval(() => {
    const ok = nodes.synced() && leases.synced();
    setReadiness({
      ready: ok,
      reason: ok ? 'watching its node and the slot Leases' : 'a watch is not in sync',
    });
  }, 500);
  log.info(
    { sentinel: sentinel.description, reboot: rebooterFor(config).description },
    'baton-agent started',
  );

  return {
    async stop() {
      stopped = true;
      clearInterval(heartbeat);
      clearInterval(tick);
      clearInterval(readinessTimer);
      readings.stop();
      await Promise.all([nodes.stop(), leases.stop()]);
      p.client.close();
    },
  };
}
