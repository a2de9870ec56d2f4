/**
 * The controller process: watches Nodes and the Leases of its namespace, and grants, renews
 * and releases slot Leases (see plan/plan.ts for the decision, slots/slot-writes.ts for the writes).
 *
 * Wired in two halves, each a list of named steps. Building (`buildController`) makes every
 * part and touches nothing: the API clients, the watches, the gates, the settle observer, the
 * leader elector, the reconciler, the view its HTTP API reads. Starting (`startController`)
 * starts the watches, the timers, the leader election and the alert polling, and returns how
 * to stop them. The runtime listens in between (process-main.ts), on the fastify server of
 * `controllerHttp`.
 */
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { EventSource, GateReason, LEADER_LEASE } from '@baton/protocol';
import {
  type ControllerConfig,
  controllerOptions,
  describeOptions,
  formatLabelSelector,
  parseControllerConfig,
} from '@baton/protocol/config';
import {
  type Component,
  clientNodeListWatchSource,
  dropManagedFields,
  formatUsage,
  isNotFound,
  type Logger,
  loadKubeConfig,
  nodeEventRecorder,
  type ProcessSpec,
  type RunContext,
  type Running,
  superviseInformer,
  wallClock,
} from '@baton/runtime';
import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  EventsV1Api,
  PolicyV1Api,
  type V1Lease,
  type V1Node,
  type V1Pod,
} from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import { controllerHttpServer } from '../api/server.ts';
import { ControllerView } from '../api/view.ts';
import { AlertGate, alertNodeGate, evaluateAlerts } from '../gates/alerts.ts';
import { blockingPodsGate } from '../gates/blocking-pods.ts';
import type { NodeGate } from '../gates/gate.ts';
import { LeaderElector } from '../leader/leader.ts';
import { kubeLeaderStore } from '../leader/leader-store.ts';
import { kubeGateConditionWriter } from '../observe/gate-condition-writer.ts';
import { leaseEventRecorder } from '../observe/lease-events.ts';
import { controllerMetrics, type ReconcileSource, reconcileRequestMetric } from '../observe/metrics.ts';
import { Notifier, notifierMetrics } from '../observe/notify.ts';
import { nodeHttpRequest } from '../prometheus/client.ts';
import { promInstantQuery } from '../prometheus/promql.ts';
import { NodeChangeFilter, relevantLeaseChange } from '../reconcile/node-changes.ts';
import { projectNode } from '../reconcile/node-projection.ts';
import { Reconciler } from '../reconcile/reconciler.ts';
import { HealthQuery } from '../settle/health-query.ts';
import { settleObserver } from '../settle/settle-observer.ts';
import { kubeWorkloadsApi, recordWorkloads } from '../settle/workloads-probe.ts';
import { kubeSlotWriter } from '../slots/slot-writes.ts';

/** How long one question to Prometheus or Alertmanager may take before it counts as unreachable. */
const ALERT_TIMEOUT_MS = 10_000;

/** The alerts gate, when an alert source is configured. */
function alertGate(config: ControllerConfig, onChange: () => void, log: Logger, now: () => Date) {
  if (config.prometheusUrl === undefined && config.alertmanagerUrl === undefined) return undefined;
  const settings = {
    prometheusUrl: config.prometheusUrl,
    alertmanagerUrl: config.alertmanagerUrl,
    bearerTokenFile: config.prometheusBearerTokenFile,
    basicAuthFile: config.prometheusBasicAuthFile,
    caFile: config.prometheusCaFile,
    timeoutMs: ALERT_TIMEOUT_MS,
  };
  const filter = {
    nameRegexp: config.alertFilterRegexp,
    matchOnly: config.alertFilterMatchOnly,
    firingOnly: config.alertFiringOnly,
    labelMatchers: config.alertLabelMatcher,
  };
  return new AlertGate({
    ask: () =>
      evaluateAlerts(settings, filter, {
        get: nodeHttpRequest,
        readFile: (path) => readFile(path, 'utf8'),
        now,
      }),
    periodMs: config.period,
    timeoutMs: ALERT_TIMEOUT_MS,
    firstReason:
      config.prometheusUrl !== undefined
        ? GateReason.PrometheusUnreachable
        : GateReason.AlertmanagerUnreachable,
    onChange: (v) => {
      if (v.blocked) log.warn({ reason: v.reason, detail: v.detail }, 'alerts gate closed');
      else log.info('alerts gate open');
      onChange();
    },
  });
}

export const controllerProcess: ProcessSpec<ControllerConfig> = {
  name: 'baton-controller',
  parseConfig: parseControllerConfig,
  usage: () =>
    formatUsage(
      'baton-controller',
      'Grants reboot permission to nodes that need it, one slot Lease at a time.',
      describeOptions(controllerOptions),
    ),
  build: async (ctx) => buildController(ctx),
};

/** Builds every part, then hands the runtime its HTTP server and how to start. */
function buildController(ctx: RunContext<ControllerConfig>): Component {
  const { config, log, registry } = ctx;
  const now = wallClock();
  const identity = config.identity ?? hostname();
  const trigger = reconcileTrigger(registry, log);
  const clients = buildClients(config);
  const watches = buildWatches(config, clients, log);
  const alerts = alertGate(config, () => trigger.schedule('gates'), log, now);
  const gates = buildGates(config, alerts, watches);
  const notifier = new Notifier({
    urls: config.notifyUrl,
    timeoutMs: 5_000,
    log: log.child({ component: 'notify' }),
    metrics: notifierMetrics(registry),
  });
  const settle = buildSettle(config, clients, trigger, log, now);
  const elector = buildLeaderElector(config, clients, identity, trigger, log, now);
  const view = new ControllerView({
    namespace: config.namespace,
    concurrency: config.concurrency,
    optOutLabel: config.optOutLabel,
    replica: () => ({
      identity,
      leaderElection: elector !== undefined,
      leader: elector === undefined || elector.isLeader(),
      synced: watches.nodes.synced() && watches.leases.synced(),
    }),
  });
  const reconciler = buildReconciler(ctx, {
    identity,
    now,
    clients,
    watches,
    gates,
    settle,
    elector,
    notifier,
    trigger,
    view,
  });
  trigger.target(() => reconciler.reconcile());
  const parts: Parts = { identity, trigger, watches, alerts, notifier, settle, elector };
  return {
    http: (surface) => controllerHttpServer({ ...surface, view, now }),
    start: async () => startController(ctx, parts),
  };
}

/** The parts that start and stop (the rest only answer calls). */
interface Parts {
  readonly identity: string;
  readonly trigger: ReconcileTrigger;
  readonly watches: Watches;
  readonly alerts: AlertGate | undefined;
  readonly notifier: Notifier;
  readonly settle: ReturnType<typeof settleObserver>;
  readonly elector: LeaderElector | undefined;
}

/** Step: the API clients, from the kubeconfig (or the in-cluster configuration). */
function buildClients(config: ControllerConfig) {
  const kc = loadKubeConfig(config.kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  return {
    kc,
    core,
    coordination: kc.makeApiClient(CoordinationV1Api),
    events: kc.makeApiClient(EventsV1Api),
    workloads: kubeWorkloadsApi(core, kc.makeApiClient(AppsV1Api), kc.makeApiClient(PolicyV1Api)),
  };
}
type Clients = ReturnType<typeof buildClients>;

/** Step: the watches of Nodes, of the namespace's Leases, and of the pods that can block. */
function buildWatches(config: ControllerConfig, { kc, core, coordination }: Clients, log: Logger) {
  const nodes = superviseInformer<V1Node>({
    name: 'nodes',
    source: clientNodeListWatchSource(kc, '/api/v1/nodes', (page) => core.listNode(page)),
    log,
    // Only what the decisions read is cached: at thousands of Nodes the rest is most of the memory.
    project: projectNode,
  });
  const leases = superviseInformer<V1Lease>({
    name: 'leases',
    source: clientNodeListWatchSource(
      kc,
      `/apis/coordination.k8s.io/v1/namespaces/${config.namespace}/leases`,
      (page) => coordination.listNamespacedLease({ namespace: config.namespace, ...page }),
    ),
    log,
    trim: dropManagedFields,
  });
  // One label-filtered watch per blocking selector: only pods that can block are cached.
  const podWatches = config.blockingPodSelector.map((selector, i) => {
    const labelSelector = formatLabelSelector(selector);
    const informer = superviseInformer<V1Pod>({
      name: `blocking-pods-${i}`,
      source: clientNodeListWatchSource(
        kc,
        '/api/v1/pods',
        (page) => core.listPodForAllNamespaces({ labelSelector, ...page }),
        { labelSelector },
      ),
      log,
      trim: dropManagedFields,
    });
    return { selector: labelSelector, informer };
  });
  return { nodes, leases, podWatches };
}
type Watches = ReturnType<typeof buildWatches>;

/** Step: the gates kept by their own loops (alerts, blocking pods), asked about each pending node. */
function buildGates(config: ControllerConfig, alerts: AlertGate | undefined, { podWatches }: Watches) {
  const gates: NodeGate[] = [];
  if (alerts !== undefined) gates.push(alertNodeGate(alerts));
  if (podWatches.length > 0) {
    gates.push(
      blockingPodsGate(
        podWatches.map(({ selector, informer }) => ({
          selector,
          list: () => informer.list(),
          synced: () => informer.synced(),
        })),
        config.blockingPodScope,
      ),
    );
  }
  return gates;
}

/** Step: what tells when a holder has settled: its pods, its workloads, the health query. */
function buildSettle(
  config: ControllerConfig,
  { kc, core, workloads }: Clients,
  trigger: ReconcileTrigger,
  log: Logger,
  now: () => Date,
) {
  const promUrl = config.prometheusUrl;
  const health =
    config.healthQuery !== undefined && promUrl !== undefined
      ? new HealthQuery({
          expr: config.healthQuery,
          evaluate: promInstantQuery({
            url: promUrl,
            bearerTokenFile: config.prometheusBearerTokenFile,
            basicAuthFile: config.prometheusBasicAuthFile,
            caFile: config.prometheusCaFile,
            timeoutMs: 10_000,
          }),
          now,
          refreshMs: 5_000,
          maxAgeMs: 60_000,
          onChange: () => trigger.schedule('gates'),
          log: log.child({ component: 'health-query' }),
        })
      : undefined;
  return settleObserver({
    podInformer: (node) => {
      const fieldSelector = `spec.nodeName=${node}`;
      return superviseInformer<V1Pod>({
        name: `pods-on-${node}`,
        source: clientNodeListWatchSource(
          kc,
          '/api/v1/pods',
          (page) => core.listPodForAllNamespaces({ fieldSelector, ...page }),
          { fieldSelector },
        ),
        log,
        trim: dropManagedFields,
      });
    },
    health,
    // A few GETs per holder, only once the rest has settled: every 2 s is cheap and prompt.
    workloads: { api: workloads, refreshMs: 2_000, now },
    onChange: () => trigger.schedule('settle'),
    onError: (node, err) => log.warn({ node, err: String(err) }, 'pod watch of a holder failed'),
  });
}

/** Step: the leader elector, when leader election is on. */
function buildLeaderElector(
  config: ControllerConfig,
  { coordination }: Clients,
  identity: string,
  trigger: ReconcileTrigger,
  log: Logger,
  now: () => Date,
): LeaderElector | undefined {
  if (!config.leaderElect) return undefined;
  return new LeaderElector({
    identity,
    store: kubeLeaderStore(
      coordination,
      config.namespace,
      LEADER_LEASE,
      Math.ceil(config.leaderElectionLeaseDuration / 1000),
    ),
    leaseDurationMs: config.leaderElectionLeaseDuration,
    renewDeadlineMs: config.leaderElectionRenewDeadline,
    retryPeriodMs: config.leaderElectionRetryPeriod,
    now: () => now().getTime(),
    monotonicMs: () => performance.now(),
    log,
    onStartedLeading: () => trigger.schedule('leader'),
  });
}

/** Step: the reconciler, with every side effect it acts through. */
function buildReconciler(
  { config, log, registry }: RunContext<ControllerConfig>,
  p: {
    readonly identity: string;
    readonly now: () => Date;
    readonly clients: Clients;
    readonly watches: Watches;
    readonly gates: readonly NodeGate[];
    readonly settle: ReturnType<typeof settleObserver>;
    readonly elector: LeaderElector | undefined;
    readonly notifier: Notifier;
    readonly trigger: ReconcileTrigger;
    readonly view: ControllerView;
  },
): Reconciler {
  const { core, coordination, events } = p.clients;
  const { nodes, leases } = p.watches;
  const { elector, now, identity } = p;
  const grantSeconds = Math.round(config.grantDuration / 1000);
  let wake: NodeJS.Timeout | undefined;
  p.trigger.onStop(() => clearTimeout(wake));
  return new Reconciler(
    {
      concurrency: config.concurrency,
      settleMs: config.settleTime,
      rebootTimeoutMs: config.rebootTimeout,
      grantDurationMs: config.grantDuration,
      optOutLabel: config.optOutLabel,
      priorityLabel: config.priorityLabel,
      controllerNode: config.nodeName,
      windows: config.windows,
      timeZone: config.timeZone,
      blackoutDates: config.blackoutDate,
      budget: {
        groupLabel: config.groupLabel,
        maxPerGroup: config.maxPerGroup,
        maxUnavailable: config.maxUnavailable,
      },
    },
    {
      nodes: () => nodes.list(),
      leases: () => leases.list(),
      synced: () => nodes.synced() && leases.synced(),
      slots: kubeSlotWriter(coordination, config.namespace, grantSeconds, { now }),
      monotonicMs: () => performance.now(),
      abortBackoffMs: config.abortBackoff,
      events: nodeEventRecorder(events, { component: EventSource.Controller, instance: identity }, log),
      metrics: controllerMetrics(registry, { kuredMetric: config.kuredMetric }),
      log,
      now,
      renewAfterMs: config.grantDuration / 3,
      mayAct: () => elector === undefined || elector.isLeader(),
      gates: p.gates,
      gateConditions: kubeGateConditionWriter(core),
      settle: p.settle,
      recordWorkloads: (node) => recordWorkloads(p.clients.workloads, node),
      freshLeases: async () =>
        (await coordination.listNamespacedLease({ namespace: config.namespace })).items,
      readNode: async (name) => {
        try {
          return await core.readNode({ name });
        } catch (err) {
          if (isNotFound(err)) return undefined;
          throw err;
        }
      },
      notify: (n) => p.notifier.notify(n),
      wakeIn: (ms) => {
        clearTimeout(wake);
        wake = setTimeout(() => p.trigger.schedule('wake'), ms + 100);
      },
      leaseEvents: leaseEventRecorder(
        events,
        config.namespace,
        { component: EventSource.Controller, instance: identity },
        log,
      ),
      planned: p.view.record,
    },
  );
}

/**
 * Coalesces a burst of reconcile requests (watch events, timers, gates) into one reconcile
 * RECONCILE_DEBOUNCE_MS after the last, and counts them by source. Built before what asks,
 * pointed at the reconciler once it exists; asks after stop are dropped.
 */
/**
 * Only the events of one burst (a watch chunk, a relist) need gathering: what arrives while a
 * pass runs is coalesced by the reconciler itself into one more pass after it (single-flight).
 * Each handoff of a rollout waits this long at least twice (the reboot acknowledged, the slot
 * released and granted again), so it was 50 ms of waiting per step.
 */
const RECONCILE_DEBOUNCE_MS = 5;

function reconcileTrigger(registry: Registry, log: Logger) {
  let reconcile: (() => Promise<void>) | undefined;
  let stopped = false;
  let debounce: NodeJS.Timeout | undefined;
  const onStop: (() => void)[] = [];
  const requested = reconcileRequestMetric(registry);
  return {
    schedule(source: ReconcileSource): void {
      if (stopped) return;
      requested(source);
      clearTimeout(debounce);
      debounce = setTimeout(() => {
        reconcile?.().catch((err: unknown) => log.error({ err: String(err) }, 'reconcile failed'));
      }, RECONCILE_DEBOUNCE_MS);
    },
    target(fn: () => Promise<void>): void {
      reconcile = fn;
    },
    /** Runs `fn` on stop (a timer of the reconciler's own to clear). */
    onStop(fn: () => void): void {
      onStop.push(fn);
    },
    stopped: () => stopped,
    stop(): void {
      stopped = true;
      clearTimeout(debounce);
      for (const fn of onStop) fn();
    },
  };
}
type ReconcileTrigger = ReturnType<typeof reconcileTrigger>;

/** Starts the watches, the timers, the leader election and the alert polling; returns how to stop. */
function startController({ config, log, setReadiness }: RunContext<ControllerConfig>, parts: Parts): Running {
  const { trigger, watches, elector, alerts } = parts;
  const { nodes, leases, podWatches } = watches;
  const nodeChanges = new NodeChangeFilter();
  nodes.onChange((event, node) => {
    if (nodeChanges.relevant(event, node)) trigger.schedule('node');
  });
  leases.onChange((_event, lease) => {
    if (relevantLeaseChange(lease)) trigger.schedule('lease');
  });
  for (const { informer } of podWatches) {
    informer.onChange(() => trigger.schedule('gates'));
    // Not awaited: an unsynced pod watch blocks grants (BlockingPodsUnknown), never the rest.
    void informer.start();
  }
  setReadiness({ ready: false, reason: 'waiting for the Node and Lease watches to sync' });
  void Promise.all([nodes.start(), leases.start()]).then(() => {
    if (trigger.stopped()) return;
    log.info('watches synced');
    trigger.schedule('sync');
  });
  const tick = setInterval(() => trigger.schedule('tick'), Math.min(config.period, 10_000));
  const readinessTimer = setInterval(() => {
    // Pod watches are left out: while one is out of sync grants wait, but releases and
    // renewals must go on, so the replica is still doing its job.
    const ok = nodes.synced() && leases.synced();
    const role =
      elector === undefined ? 'leader election off' : elector.isLeader() ? 'leading' : 'standing by';
    setReadiness({
      ready: ok,
      reason: ok ? `watching Nodes and Leases (${role})` : 'a watch is not in sync',
    });
  }, 500);
  const electionStop = new AbortController();
  const election = elector?.run(electionStop.signal);
  alerts?.start();
  log.info(
    {
      identity: parts.identity,
      namespace: config.namespace,
      concurrency: config.concurrency,
      windows: config.windows.length,
      notifyUrls: config.notifyUrl.length,
    },
    'baton-controller started',
  );
  return {
    async stop() {
      trigger.stop();
      electionStop.abort();
      await election;
      clearInterval(tick);
      clearInterval(readinessTimer);
      await Promise.all([
        nodes.stop(),
        leases.stop(),
        parts.settle.stop(),
        alerts?.stop(),
        ...podWatches.map(({ informer }) => informer.stop()),
      ]);
      // Give queued notifications a moment, never the whole shutdown grace period.
      await Promise.race([parts.notifier.flush(), new Promise((r) => setTimeout(r, 3_000).unref())]);
    },
  };
}
