/**
 * The controller's gates on the real control plane: a real controller process with its own
 * ServiceAccount token, fake nodes whose RebootRequired condition the test reports as an agent
 * would (no agents: what is under test is whether the controller grants, and what it says).
 * Each test starts a controller with the gate it checks and stops it at the end.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GateReason, grantNaming } from '@baton/protocol';
import {
  CoordinationV1Api,
  CoreV1Api,
  type KubeConfig,
  RbacAuthorizationV1Api,
} from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from './harness/cluster.ts';
import { startController } from './harness/controller.ts';
import { FakePrometheus, metricSample, rebootGate, setRebootRequired } from './harness/gates.ts';
import { createFakeNodes, loadKubeConfig, mergePatch, waitFor, waitForNodesReady } from './harness/kube.ts';
import { createTestNamespace, deleteTestNamespace } from './harness/namespace.ts';
import { createPki } from './harness/pki.ts';
import type { ManagedProcess } from './harness/processes.ts';
import { grantControllerRbac } from './harness/rbac.ts';

describe('controller gates', () => {
  let kc: KubeConfig;
  let core: CoreV1Api;
  let leasesApi: CoordinationV1Api;
  let ns: string;
  let dir: string;
  let names: string[];
  let controller: ManagedProcess | undefined;
  const cleanups: (() => Promise<void>)[] = [];
  const prefix = `gate-${randomBytes(2).toString('hex')}`;

  const start = async (args: string[]) => {
    const started = await startController(kc, {
      namespace: ns,
      serviceAccount: 'baton-controller',
      dir,
      args: ['--leader-elect=false', '--period=1s', '--grant-duration=60s', ...args],
    });
    controller = started.process;
    await waitFor('controller ready', async () => {
      const res = await fetch(started.metricsUrl.replace('/metrics', '/readyz')).catch(() => undefined);
      return res?.ok === true;
    });
    return started.metricsUrl;
  };
  const holderOf = async (node: string) =>
    grantNaming(node, (await leasesApi.listNamespacedLease({ namespace: ns })).items);
  const blocked = (metricsUrl: string, node: string, reason: string) =>
    metricSample(metricsUrl, 'baton_node_blocked', { node, reason });

  beforeAll(async () => {
    kc = loadKubeConfig(inject('kubeconfig'));
    core = kc.makeApiClient(CoreV1Api);
    leasesApi = kc.makeApiClient(CoordinationV1Api);
    ns = await createTestNamespace(kc, 'gates');
    dir = await mkdtemp(join(tmpdir(), 'baton-gates-e2e-'));
    names = await createFakeNodes(kc, { prefix, count: 3 });
    await waitForNodesReady(kc, names);
    cleanups.push(await grantControllerRbac(kc, ns, 'baton-controller'));
  });

  afterEach(async () => {
    // Nobody needs a reboot any more; the next controller releases what this one granted.
    for (const n of names) await setRebootRequired(kc, n, false);
    await controller?.stop();
    controller = undefined;
  });

  afterAll(async () => {
    await controller?.stop();
    for (const c of cleanups) await c();
    await deleteTestNamespace(kc, ns);
    for (const name of names ?? []) await core.deleteNode({ name }).catch(() => undefined);
    if (process.env.E2E_KEEP_LOGS) process.stderr.write(`logs kept in ${dir}\n`);
    else await rm(dir, { recursive: true, force: true });
  });

  it('an unreachable Prometheus blocks every grant, reported with its reason', async () => {
    const closed = await freePort();
    const metrics = await start([`--prometheus-url=http://127.0.0.1:${closed}`]);
    const target = names[0] ?? '';
    await setRebootRequired(kc, target, true);
    await waitFor(
      'blocked with PrometheusUnreachable',
      async () => (await blocked(metrics, target, GateReason.PrometheusUnreachable)) === 1,
    );
    // `kubectl describe node` shows why, naming the cause.
    const gate = await waitFor('RebootGate condition', async () => {
      const c = await rebootGate(kc, target);
      return c?.reason === GateReason.PrometheusUnreachable ? c : undefined;
    });
    expect(gate.status).toBe('True');
    expect(gate.message).toMatch(
      new RegExp(`^PrometheusUnreachable: GET http://127.0.0.1:${closed}/api/v1/alerts: .*ECONNREFUSED`),
    );
    // Several more periods: still blocked, never granted, and the condition not rewritten.
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      expect(await holderOf(target)).toBeUndefined();
      expect(await blocked(metrics, target, GateReason.PrometheusUnreachable)).toBe(1);
    }
    expect((await rebootGate(kc, target))?.lastHeartbeatTime).toEqual(gate.lastHeartbeatTime);
  });

  it('a firing alert blocks; the grant comes only after it clears', async () => {
    const prom = new FakePrometheus();
    prom.alerts = [{ labels: { alertname: 'NodeDiskFull', severity: 'critical' }, state: 'firing' }];
    const url = await prom.start();
    try {
      const metrics = await start([`--prometheus-url=${url}`, '--alert-filter-regexp=^RebootRequired$']);
      const target = names[1] ?? '';
      await setRebootRequired(kc, target, true);
      await waitFor(
        'blocked with AlertFiring',
        async () => (await blocked(metrics, target, GateReason.AlertFiring)) === 1,
      );
      await waitFor('RebootGate says AlertFiring', async () => {
        const c = await rebootGate(kc, target);
        return (
          c?.status === 'True' && c.reason === GateReason.AlertFiring && /NodeDiskFull/.test(c.message ?? '')
        );
      });
      const asked = prom.requests;
      await waitFor('asked again', async () => prom.requests >= asked + 2);
      expect(await holderOf(target)).toBeUndefined();

      // An alert the filter ignores does not block.
      prom.alerts = [{ labels: { alertname: 'RebootRequired' }, state: 'firing' }];
      await waitFor(
        'granted after the alert cleared',
        async () => (await holderOf(target)) !== undefined,
        30_000,
      );
      // The metric follows at the end of the reconcile that wrote the grant.
      await waitFor(
        'no longer reported blocked',
        async () => (await blocked(metrics, target, GateReason.AlertFiring)) === undefined,
      );
      await waitFor('RebootGate says Granted', async () => {
        const c = await rebootGate(kc, target);
        return c?.status === 'False' && c.reason === GateReason.Granted;
      });
      // Once the node needs nothing, the condition says so.
      await setRebootRequired(kc, target, false);
      await waitFor('RebootGate says NotRequired', async () => {
        const c = await rebootGate(kc, target);
        return c?.status === 'False' && c.reason === GateReason.NotRequired;
      });
    } finally {
      await prom.stop();
    }
  });

  it('HTTPS with a private CA and a bearer token read from files; a rotated token is used at once', async () => {
    const pki = await createPki(join(dir, 'pki'));
    const prom = new FakePrometheus({
      tls: { certFile: pki.servingCert, keyFile: pki.servingKey },
      token: 'right',
    });
    prom.alerts = [{ labels: { alertname: 'EtcdDown' }, state: 'firing' }];
    const url = await prom.start();
    const tokenFile = join(dir, 'token');
    await writeFile(tokenFile, 'wrong\n');
    try {
      await start([
        `--prometheus-url=${url}`,
        `--prometheus-ca-file=${pki.caCert}`,
        `--prometheus-bearer-token-file=${tokenFile}`,
      ]);
      const target = names[0] ?? '';
      await setRebootRequired(kc, target, true);
      await waitFor('a wrong token: PrometheusUnreachable with HTTP 401', async () => {
        const c = await rebootGate(kc, target);
        return c?.reason === GateReason.PrometheusUnreachable && /HTTP 401/.test(c.message ?? '');
      });
      // The Secret is updated: the next question uses the new token, no restart.
      await writeFile(tokenFile, 'right\n');
      await waitFor(
        'the alert seen over TLS',
        async () => (await rebootGate(kc, target))?.reason === GateReason.AlertFiring,
      );
      prom.alerts = [];
      await waitFor(
        'granted after the alert cleared',
        async () => (await holderOf(target)) !== undefined,
        30_000,
      );
    } finally {
      await prom.stop();
    }
  });

  it('a pod matching --blocking-pod-selector holds back its own node only; deleting it unblocks', async () => {
    const metrics = await start([
      '--concurrency=2',
      '--blocking-pod-selector=app=db,tier in (primary,replica)',
    ]);
    const [free = '', busy = ''] = [names[0], names[2]];
    const pod = `db-${randomBytes(2).toString('hex')}`;
    await waitFor('pod created', async () => {
      await core.createNamespacedPod({
        namespace: ns,
        body: {
          metadata: { name: pod, labels: { app: 'db', tier: 'primary' } },
          spec: {
            nodeName: busy,
            automountServiceAccountToken: false,
            containers: [{ name: 'db', image: 'registry.example/db:1' }],
          },
        },
      });
      return true;
    });
    await setRebootRequired(kc, busy, true);
    await setRebootRequired(kc, free, true);
    await waitFor('the other node granted', async () => (await holderOf(free)) !== undefined);
    await waitFor(
      'blocked with BlockingPod',
      async () => (await blocked(metrics, busy, GateReason.BlockingPod)) === 1,
    );
    expect(await holderOf(busy)).toBeUndefined();
    const gate = await rebootGate(kc, busy);
    expect(gate?.reason).toBe(GateReason.BlockingPod);
    expect(gate?.message).toBe(
      `BlockingPod: pod ${ns}/${pod} (app=db,tier in (primary,replica)) on this node`,
    );

    await core.deleteNamespacedPod({ name: pod, namespace: ns, gracePeriodSeconds: 0 });
    await waitFor(
      'granted after the pod was deleted',
      async () => (await holderOf(busy)) !== undefined,
      30_000,
    );
    // The grant is written before the reconcile that made it updates the metric: wait for it.
    await waitFor(
      'no longer reported blocked',
      async () => (await blocked(metrics, busy, GateReason.BlockingPod)) === undefined,
    );
    await waitFor(
      'RebootGate turns Granted',
      async () => (await rebootGate(kc, busy))?.reason === GateReason.Granted,
    );
  });

  it('a pod watch that cannot sync (no RBAC for pods) blocks with BlockingPodsUnknown, never grants', async () => {
    // The same RBAC minus pods: the pod watch is refused (403) and retried, never in sync.
    const sa = 'baton-controller-nopods';
    cleanups.push(await grantControllerRbac(kc, ns, sa));
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    const role = await rbac.readClusterRole({ name: `${ns}-${sa}` });
    role.rules = (role.rules ?? []).filter((r) => !(r.resources ?? []).includes('pods'));
    await rbac.replaceClusterRole({ name: `${ns}-${sa}`, body: role });
    const started = await startController(kc, {
      namespace: ns,
      serviceAccount: sa,
      dir,
      args: ['--leader-elect=false', '--period=1s', '--blocking-pod-selector=app=db'],
    });
    controller = started.process;
    const target = names[1] ?? '';
    await setRebootRequired(kc, target, true);
    await waitFor('RebootGate says BlockingPodsUnknown', async () => {
      const c = await rebootGate(kc, target);
      return c?.reason === GateReason.BlockingPodsUnknown && /"app=db" is not in sync/.test(c.message ?? '');
    });
    // The replica is still ready (Nodes and Leases are watched); it just grants nothing.
    await waitFor('ready', async () => (await fetch(started.metricsUrl.replace('/metrics', '/readyz'))).ok);
    await new Promise((r) => setTimeout(r, 3000));
    expect(await holderOf(target)).toBeUndefined();
  });

  it('--max-per-group: one grant per zone even with free slots', async () => {
    const zone = 'topology.kubernetes.io/zone';
    const zones: Record<string, string> = {
      [names[0] ?? '']: 'a',
      [names[1] ?? '']: 'a',
      [names[2] ?? '']: 'b',
    };
    for (const [name, z] of Object.entries(zones)) {
      await core.patchNode({ name, body: { metadata: { labels: { [zone]: z } } } }, mergePatch);
    }
    try {
      const metrics = await start(['--concurrency=3', `--group-label=${zone}`, '--max-per-group=1']);
      for (const n of names) await setRebootRequired(kc, n, true);
      await waitFor('one node per zone granted', async () => {
        const held = await Promise.all(names.map(async (n) => (await holderOf(n)) !== undefined));
        return held.filter(Boolean).length === 2 && held[2] === true;
      });
      const zoneA = [names[0] ?? '', names[1] ?? ''];
      const waiting = (await Promise.all(zoneA.map(async (n) => ((await holderOf(n)) ? undefined : n)))).find(
        (n) => n !== undefined,
      );
      expect(waiting).toBeDefined();
      await waitFor(
        'the other zone-a node blocked by its group',
        async () => (await blocked(metrics, waiting ?? '', GateReason.GroupBudgetExhausted)) === 1,
      );
      // Free slots remain (3 slots, 2 holders) and several periods pass: still one per zone.
      await new Promise((r) => setTimeout(r, 3000));
      expect(await holderOf(waiting ?? '')).toBeUndefined();
    } finally {
      for (const name of names) {
        await core.patchNode({ name, body: { metadata: { labels: { [zone]: null } } } }, mergePatch);
      }
    }
  });

  it('--max-unavailable: a node cordoned by someone else uses the budget until uncordoned', async () => {
    const [target = '', cordoned = ''] = [names[0], names[2]];
    await core.patchNode({ name: cordoned, body: { spec: { unschedulable: true } } }, mergePatch);
    try {
      const metrics = await start(['--concurrency=2', '--max-unavailable=1']);
      await setRebootRequired(kc, target, true);
      await waitFor(
        'blocked with MaxUnavailableReached',
        async () => (await blocked(metrics, target, GateReason.MaxUnavailableReached)) === 1,
      );
      await waitFor('RebootGate says MaxUnavailableReached', async () => {
        const c = await rebootGate(kc, target);
        return (
          c?.reason === GateReason.MaxUnavailableReached && /1 node\(s\) unavailable/.test(c.message ?? '')
        );
      });
      expect(await holderOf(target)).toBeUndefined();
    } finally {
      await core.patchNode({ name: cordoned, body: { spec: { unschedulable: false } } }, mergePatch);
    }
    await waitFor('granted after the uncordon', async () => (await holderOf(target)) !== undefined, 30_000);
  });
});
