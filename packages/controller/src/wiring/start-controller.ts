/**
 * The controller process: watches Nodes and the Leases of its namespace, and grants, renews
 * and releases slot Leases (see plan/plan.ts for the decision, slots/slot-writes.ts for the writes).
 */
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import {
  type ControllerConfig,
  controllerOptions,
  describeOptions,
  EventSource,
  formatLabelSelector,
  GateReason,
  LEADER_LEASE,
  parseControllerConfig,
} from '@baton/protocol';
import {
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
import { AlertGate, evaluateAlerts } from '../gates/alerts.ts';
import { blockingPodsGate } from '../gates/blocking-pods.ts';
import { alertNodeGate, type NodeGate } from '../gates/gates.ts';
import { LeaderElector } from '../leader/leader.ts';
import { kubeLeaderStore } from '../leader/leader-store.ts';
import { kubeGateConditionWriter } from '../observe/gate-condition-writer.ts';
import { leaseEventRecorder } from '../observe/lease-events.ts';
import { controllerMetrics, type ReconcileSource, reconcileRequestMetric } from '../observe/metrics.ts';
import { Notifier, notifierMetrics } from '../observe/notify.ts';
import { nodeHttpGet } from '../prometheus/http-get.ts';
import { promInstantQuery } from '../prometheus/promql.ts';
import { NodeChangeFilter, relevantLeaseChange } from '../reconcile/node-changes.ts';
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
        get: nodeHttpGet,
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
  build: async (ctx) => ({ start: () => start(ctx) }),
};

async function start({
  config,
  log,
  registry,
  setReadiness,
}: RunContext<ControllerConfig>): Promise<Running> {
  const now = wallClock();
  const identity = config.identity ?? hostname();
  const kc = loadKubeConfig(config.kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const coordination = kc.makeApiClient(CoordinationV1Api);
  const eventsApi = kc.makeApiClient(EventsV1Api);
  const nodes = superviseInformer<V1Node>({
    name: 'nodes',
    kubeConfig: kc,
    path: '/api/v1/nodes',
    list: () => core.listNode(),
    log,
    // Never read, and most of a Node's size: the cache of thousands of them shrinks to the rest.
    trim: (n) => {
      dropManagedFields(n);
      if (n.status !== undefined) delete n.status.images;
    },
  });
  const leases = superviseInformer<V1Lease>({
    name: 'leases',
    kubeConfig: kc,
    path: `/apis/coordination.k8s.io/v1/namespaces/${config.namespace}/leases`,
    list: () => coordination.listNamespacedLease({ namespace: config.namespace }),
    log,
    trim: dropManagedFields,
  });
  // One label-filtered watch per blocking selector: only pods that can block are cached.
  const podWatches = config.blockingPodSelector.map((selector, i) => {
    const labelSelector = formatLabelSelector(selector);
    const informer = superviseInformer<V1Pod>({
      name: `blocking-pods-${i}`,
      kubeConfig: kc,
      path: '/api/v1/pods',
      labelSelector,
      list: () => core.listPodForAllNamespaces({ labelSelector }),
      log,
      trim: dropManagedFields,
    });
    return { selector: labelSelector, informer };
  });
  const grantSeconds = Math.round(config.grantDuration / 1000);
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
          onChange: () => schedule('gates'),
          log: log.child({ component: 'health-query' }),
        })
      : undefined;
  const notifier = new Notifier({
    urls: config.notifyUrl,
    timeoutMs: 5_000,
    log: log.child({ component: 'notify' }),
    metrics: notifierMetrics(registry),
  });
  const workloadsApi = kubeWorkloadsApi(core, kc.makeApiClient(AppsV1Api), kc.makeApiClient(PolicyV1Api));
  const settle = settleObserver({
    podInformer: (node) => {
      const fieldSelector = `spec.nodeName=${node}`;
      return superviseInformer<V1Pod>({
        name: `pods-on-${node}`,
        kubeConfig: kc,
        path: '/api/v1/pods',
        fieldSelector,
        list: () => core.listPodForAllNamespaces({ fieldSelector }),
        log,
        trim: dropManagedFields,
      });
    },
    health,
    // A few GETs per holder, only once the rest has settled: every 2 s is cheap and prompt.
    workloads: { api: workloadsApi, refreshMs: 2_000, now },
    onChange: () => schedule('settle'),
    onError: (node, err) => log.warn({ node, err: String(err) }, 'pod watch of a holder failed'),
  });
  const elector = config.leaderElect
    ? new LeaderElector({
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
        onStartedLeading: () => schedule('leader'),
      })
    : undefined;
  const electionStop = new AbortController();
  const alerts = alertGate(config, () => schedule('gates'), log, now);
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
  let wake: NodeJS.Timeout | undefined;
  const reconciler = new Reconciler(
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
      events: nodeEventRecorder(
        kc.makeApiClient(EventsV1Api),
        { component: EventSource.Controller, instance: identity },
        log,
      ),
      metrics: controllerMetrics(registry),
      log,
      now,
      renewAfterMs: config.grantDuration / 3,
      mayAct: () => elector === undefined || elector.isLeader(),
      gates,
      gateConditions: kubeGateConditionWriter(core),
      settle,
      recordWorkloads: (node) => recordWorkloads(workloadsApi, node),
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
      notify: (n) => notifier.notify(n),
      wakeIn: (ms) => {
        clearTimeout(wake);
        wake = setTimeout(() => schedule('wake'), ms + 100);
      },
      leaseEvents: leaseEventRecorder(
        eventsApi,
        config.namespace,
        { component: EventSource.Controller, instance: identity },
        log,
      ),
    },
  );

  let stopped = false;
  let debounce: NodeJS.Timeout | undefined;
  const requested = reconcileRequestMetric(registry);
  const schedule = (source: ReconcileSource) => {
    if (stopped) return;
    requested(source);
    clearTimeout(debounce);
    // Coalesce a burst of watch events into one reconcile.
    debounce = setTimeout(() => {
      reconciler.reconcile().catch((err: unknown) => log.error({ err: String(err) }, 'reconcile failed'));
    }, 50);
  };
  const nodeChanges = new NodeChangeFilter();
  nodes.onChange((event, node) => {
    if (nodeChanges.relevant(event, node)) schedule('node');
  });
  leases.onChange((_event, lease) => {
    if (relevantLeaseChange(lease)) schedule('lease');
  });
  for (const { informer } of podWatches) {
    informer.onChange(() => schedule('gates'));
    // Not awaited: an unsynced pod watch blocks grants (BlockingPodsUnknown), never the rest.
    void informer.start();
  }
  setReadiness({ ready: false, reason: 'waiting for the Node and Lease watches to sync' });
  void Promise.all([nodes.start(), leases.start()]).then(() => {
    if (stopped) return;
    log.info('watches synced');
    schedule('sync');
  });
  const tick = setInterval(() => schedule('tick'), Math.min(config.period, 10_000));
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
  const election = elector?.run(electionStop.signal);
  alerts?.start();
  log.info(
    {
      identity,
      namespace: config.namespace,
      concurrency: config.concurrency,
      windows: config.windows.length,
      notifyUrls: config.notifyUrl.length,
    },
    'baton-controller started',
  );
  return {
    async stop() {
      stopped = true;
      electionStop.abort();
      await election;
      clearTimeout(debounce);
      clearTimeout(wake);
      clearInterval(tick);
      clearInterval(readinessTimer);
      await Promise.all([
        nodes.stop(),
        leases.stop(),
        settle.stop(),
        alerts?.stop(),
        ...podWatches.map(({ informer }) => informer.stop()),
      ]);
      // Give queued notifications a moment, never the whole shutdown grace period.
      await Promise.race([notifier.flush(), new Promise((r) => setTimeout(r, 3_000).unref())]);
    },
  };
}
