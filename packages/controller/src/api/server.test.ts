import { AgentPhase } from '@baton/protocol';
import type { Readiness } from '@baton/runtime';
import type { V1Lease } from '@kubernetes/client-node';
import { Counter, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { plan } from '../plan/plan.ts';
import { baseSettings, NOW, testNode, testSlot } from '../testing/test-support.ts';
import { buildControllerApp, controllerHttpServer } from './server.ts';
import { nodeResponse, statusResponse } from './status.ts';
import { ControllerView, type ReplicaState } from './view.ts';

const LATER = new Date(NOW.getTime() + 1_000);

function setup(o: { replica?: Partial<ReplicaState>; planned?: boolean } = {}) {
  const registry = new Registry();
  new Counter({ name: 'baton_test_total', help: 'test counter', registers: [registry] }).inc(3);
  let readiness: Readiness = { ready: false, reason: 'a watch is not in sync' };
  const replica: ReplicaState = {
    identity: 'ctrl-0',
    leaderElection: true,
    leader: true,
    synced: true,
    ...o.replica,
  };
  const view = new ControllerView({
    namespace: 'baton',
    concurrency: 1,
    optOutLabel: 'baton.dev/opt-out',
    replica: () => replica,
  });
  if (o.planned !== false) {
    const nodes = [
      testNode('a', { needs: true, phase: AgentPhase.Draining }),
      testNode('b', { needs: true }),
    ];
    const leases = [testSlot(0, 'a') as V1Lease];
    view.record({
      at: NOW,
      nodes,
      leases,
      paused: undefined,
      plan: plan({ now: NOW, nodes, leases, settings: baseSettings }),
    });
  }
  const app = buildControllerApp({ registry, readiness: () => readiness, view, now: () => LATER });
  return {
    app,
    view,
    setReady: (r: Readiness) => {
      readiness = r;
    },
  };
}

const errorOf = (status: number, reason: string) => ({
  error: { status, reason, message: expect.any(String) },
});

describe('the controller HTTP surface', () => {
  let close: (() => Promise<unknown>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });
  const app = (o?: Parameters<typeof setup>[0]) => {
    const s = setup(o);
    close = () => s.app.close();
    return s;
  };

  it('answers /healthz with the same body as every baton process', async () => {
    const res = await app().app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('answers /readyz 503 with the reason until ready, then 200 (the chart probes the code)', async () => {
    const s = app();
    const before = await s.app.inject({ method: 'GET', url: '/readyz' });
    expect(before.statusCode).toBe(503);
    expect(before.json()).toEqual({ status: 'not ready', reason: 'a watch is not in sync' });
    s.setReady({ ready: true, reason: 'watching Nodes and Leases (leading)' });
    const after = await s.app.inject({ method: 'GET', url: '/readyz' });
    expect(after.statusCode).toBe(200);
    expect(after.json()).toEqual({ status: 'ready', reason: 'watching Nodes and Leases (leading)' });
  });

  it('serves the registry in the Prometheus text format', async () => {
    const res = await app().app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    expect(res.body).toContain('baton_test_total 3');
  });

  it('serves /api/v1/status exactly as the view maps it (the schema drops nothing)', async () => {
    const s = app();
    const res = await s.app.inject({ method: 'GET', url: '/api/v1/status' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('application/json');
    const want = statusResponse({
      now: LATER,
      replica: s.view.replica(),
      settings: s.view.settings,
      pass: s.view.last(),
    });
    expect(res.json()).toEqual(JSON.parse(JSON.stringify(want)));
    expect(res.json()).toMatchObject({ replica: { leader: true }, taken: 1 });
  });

  it('serves /api/v1/status on a follower without a plan: who answers, and that it has not planned', async () => {
    const res = await app({ replica: { leader: false }, planned: false }).app.inject('/api/v1/status');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      replica: { identity: 'ctrl-0', leader: false },
      plannedAt: null,
      nodes: [],
    });
  });

  it('serves /api/v1/nodes/NAME exactly as the view maps it', async () => {
    const s = app();
    const res = await s.app.inject({ method: 'GET', url: '/api/v1/nodes/b' });
    expect(res.statusCode).toBe(200);
    const want = nodeResponse({
      now: LATER,
      replica: s.view.replica(),
      settings: s.view.settings,
      pass: s.view.last() ?? (undefined as never),
      name: 'b',
    });
    expect(res.json()).toEqual(JSON.parse(JSON.stringify(want)));
    expect(res.json()).toMatchObject({ node: { name: 'b', state: 'waiting' } });
  });

  it('answers an unknown node with 404 in the error shape', async () => {
    const res = await app().app.inject('/api/v1/nodes/nope');
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual(errorOf(404, 'NotFound'));
    expect(res.json().error.message).toContain('"nope"');
  });

  it('answers a node question without a plan with 503 in the error shape, saying to ask the leader', async () => {
    const res = await app({ replica: { leader: false }, planned: false }).app.inject('/api/v1/nodes/a');
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual(errorOf(503, 'ServiceUnavailable'));
    expect(res.json().error.message).toMatch(/does not lead.*ask the leader/);
  });

  it.each(['/nope', '/api/v1', '/api/v1/nodes/', '/api/v1/nodes/a/b', '/healthz/x'])(
    'answers the unknown path %s with 404 in the error shape',
    async (url) => {
      const res = await app().app.inject({ method: 'GET', url });
      expect(res.statusCode).toBe(404);
      expect(res.headers['content-type']).toContain('application/json');
      expect(res.json()).toEqual(errorOf(404, 'NotFound'));
    },
  );

  it.each([
    ['POST', '/api/v1/status'],
    ['DELETE', '/api/v1/nodes/a'],
    ['PUT', '/metrics'],
    ['PATCH', '/readyz'],
    ['OPTIONS', '/healthz'],
  ] as const)('answers %s %s with 405, the error shape and allow: GET, HEAD', async (method, url) => {
    const res = await app().app.inject({ method, url });
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD');
    expect(res.json()).toEqual(errorOf(405, 'MethodNotAllowed'));
  });

  it('answers HEAD like GET, without a body', async () => {
    const res = await app().app.inject({ method: 'HEAD', url: '/api/v1/status' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('');
  });

  it('answers a node name longer than any Node name with 414 in the error shape', async () => {
    const res = await app().app.inject(`/api/v1/nodes/${'x'.repeat(300)}`);
    expect(res.statusCode).toBe(414);
    expect(res.json()).toEqual(errorOf(414, 'URITooLong'));
  });

  it('answers a failure inside a route with 500 in the error shape', async () => {
    const s = app();
    // A view that breaks the mapping.
    const broken = {
      settings: s.view.settings,
      replica: () => s.view.replica(),
      last: () => ({ at: 'no date' }),
    };
    const registry = new Registry();
    const failing = buildControllerApp({
      registry,
      readiness: () => ({ ready: true, reason: '' }),
      view: broken as never,
      now: () => LATER,
    });
    const res = await failing.inject('/api/v1/status');
    await failing.close();
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual(errorOf(500, 'InternalServerError'));
  });

  it('listens on a real socket and closes', async () => {
    const s = setup();
    const server = controllerHttpServer({
      registry: new Registry(),
      readiness: () => ({ ready: true, reason: 'ok' }),
      view: s.view,
      now: () => LATER,
    });
    const base = await server.listen({ host: '127.0.0.1', port: 0 });
    close = () => server.close();
    const res = await fetch(`${base}/api/v1/nodes/a`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { node: { slot: string } }).node.slot).toBe('baton-slot-0');
  });
});
