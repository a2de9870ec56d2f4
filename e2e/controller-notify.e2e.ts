/**
 * Notifications on the real control plane: a loopback webhook receiver hears the reboot start
 * and, when the node never comes back, the halt with the node and the reason; a second webhook
 * that refuses connections is logged and counted and holds nothing back.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoordinationV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startController } from './harness/controller.ts';
import { Fleet } from './harness/fleet.ts';
import { createFakeNodes, loadKubeConfig, waitFor, waitForNodesReady } from './harness/kube.ts';
import { createTestNamespace, deleteTestNamespace } from './harness/namespace.ts';
import type { ManagedProcess } from './harness/processes.ts';
import { grantAgentRbac, grantControllerRbac } from './harness/rbac.ts';

interface Received {
  event: string;
  node: string;
  reason: string;
  text: string;
  slot?: string;
}

describe('controller notifications', () => {
  let kc: KubeConfig;
  let core: CoreV1Api;
  let ns: string;
  let dir: string;
  let fleet: Fleet;
  let controller: ManagedProcess | undefined;
  let metricsUrl: string;
  let receiver: Server;
  const received: Received[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  let names: string[] = [];

  beforeAll(async () => {
    kc = loadKubeConfig(inject('kubeconfig'));
    core = kc.makeApiClient(CoreV1Api);
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        if (req.method === 'POST' && req.headers['content-type'] === 'application/json') {
          received.push(JSON.parse(body) as Received);
        }
        res.end('ok');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const port = (receiver.address() as AddressInfo).port;

    ns = await createTestNamespace(kc, 'notify');
    dir = await mkdtemp(join(tmpdir(), 'baton-notify-e2e-'));
    names = await createFakeNodes(kc, { prefix: `ntf-${randomBytes(2).toString('hex')}`, count: 2 });
    await waitForNodesReady(kc, names);
    cleanups.push(await grantAgentRbac(kc, ns, 'baton-agent'));
    cleanups.push(await grantControllerRbac(kc, ns, 'baton-controller'));
    fleet = new Fleet({ kc, namespace: ns, serviceAccount: 'baton-agent', dir });
    await fleet.add(names);
    const started = await startController(kc, {
      namespace: ns,
      serviceAccount: 'baton-controller',
      dir,
      args: [
        '--concurrency=1',
        '--reboot-timeout=1m',
        '--leader-elect=false',
        `--notify-url=http://127.0.0.1:${port}/hooks/baton`,
        // A webhook that is down: logged and counted, never in the way.
        '--notify-url=http://127.0.0.1:1/down',
      ],
    });
    controller = started.process;
    metricsUrl = started.metricsUrl;
  });

  afterAll(async () => {
    await controller?.stop();
    await fleet?.stop();
    for (const c of cleanups) await c();
    await deleteTestNamespace(kc, ns);
    for (const name of names) await core.deleteNode({ name }).catch(() => undefined);
    receiver?.closeAllConnections();
    await new Promise((r) => receiver?.close(r));
    if (process.env.E2E_KEEP_LOGS) process.stderr.write(`logs kept in ${dir}\n`);
    else await rm(dir, { recursive: true, force: true });
  });

  it('a node that never comes back: the webhook hears the start, then the halt with node and reason', async () => {
    const [first, second] = names.map((n) => fleet.nodes.get(n));
    if (!first || !second) throw new Error('fleet not set up');
    first.neverReturn = true;
    await first.touchSentinel();
    await waitFor(
      'the grant notification',
      async () => received.find((r) => r.event === 'RebootGranted' && r.node === first.name),
      60_000,
    );
    await waitFor('the simulated reboot', async () => first.reboots === 1, 60_000);
    await second.touchSentinel();

    const halt = await waitFor(
      'the halt notification',
      async () => received.find((r) => r.event === 'RolloutHalted'),
      150_000,
    );
    expect(halt.node).toBe(first.name);
    expect(halt.reason).toMatch(/has not settled \(phase Rebooting\)/);
    expect(halt.text).toContain(`rollout HALTED at ${first.name}`);

    // Halted: the second node waits, and the down webhook was counted, not waited on.
    const leases = await kc.makeApiClient(CoordinationV1Api).listNamespacedLease({ namespace: ns });
    expect(leases.items.map((l) => l.spec?.holderIdentity).filter(Boolean)).toEqual([first.name]);
    expect(second.reboots).toBe(0);
    expect(received.filter((r) => r.event === 'RolloutHalted')).toHaveLength(1);
    const metrics = await (await fetch(metricsUrl)).text();
    expect(metrics).toMatch(/baton_notifications_total\{outcome="failed"\} [1-9]/);
    expect(metrics).toMatch(/baton_notifications_total\{outcome="sent"\} [1-9]/);
    expect(metrics).toContain('baton_rollout_halted 1');
  }, 240_000);
});
