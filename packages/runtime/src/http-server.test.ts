import { Counter, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { buildHttpServer, type Readiness } from './http-server.ts';

describe('the HTTP surface', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => close?.());

  const serve = async (readiness: () => Readiness) => {
    const registry = new Registry();
    const counter = new Counter({ name: 'baton_test_total', help: 'test counter', registers: [registry] });
    counter.inc(3);
    const app = buildHttpServer({ registry, readiness });
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    close = () => app.close();
    return (path: string, init?: RequestInit) => fetch(`${base}${path}`, init);
  };

  it('answers /healthz while the process lives', async () => {
    const get = await serve(() => ({ ready: false, reason: 'x' }));
    const res = await get('/healthz');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('answers /readyz 503 with the reason until ready, then 200', async () => {
    let state: Readiness = { ready: false, reason: 'node informer not synced' };
    const get = await serve(() => state);
    const before = await get('/readyz');
    expect(before.status).toBe(503);
    expect(await before.json()).toEqual({ status: 'not ready', reason: 'node informer not synced' });
    state = { ready: true, reason: 'leading' };
    expect((await get('/readyz')).status).toBe(200);
  });

  it('serves the registry in the Prometheus text format', async () => {
    const res = await (await serve(() => ({ ready: true, reason: '' })))('/metrics');
    expect(res.headers.get('content-type')).toContain('text/plain');
    expect(await res.text()).toContain('baton_test_total 3');
  });

  it('answers 404 for other paths and 405 for other methods', async () => {
    const get = await serve(() => ({ ready: true, reason: '' }));
    expect((await get('/nope')).status).toBe(404);
    expect((await get('/metrics', { method: 'POST' })).status).toBe(405);
  });

  it('rejects listening on a port that is taken', async () => {
    const get = await serve(() => ({ ready: true, reason: '' }));
    const port = Number(new URL((await get('/healthz')).url).port);
    const second = buildHttpServer({
      registry: new Registry(),
      readiness: () => ({ ready: true, reason: '' }),
    });
    await expect(second.listen({ host: '127.0.0.1', port })).rejects.toThrow(/EADDRINUSE/);
  });
});
