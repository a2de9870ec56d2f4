import { Counter, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { buildHttpServer, type Readiness } from './http-server.ts';

describe('the HTTP surface', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => close?.());

  const build = (readiness: () => Readiness) => {
    const registry = new Registry();
    const counter = new Counter({ name: 'baton_test_total', help: 'test counter', registers: [registry] });
    counter.inc(3);
    const app = buildHttpServer({ registry, readiness });
    close = () => app.close();
    return app;
  };

  it('answers /healthz while the process lives', async () => {
    const res = await build(() => ({ ready: false, reason: 'x' })).inject('/healthz');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('answers /readyz 503 with the reason until ready, then 200', async () => {
    let state: Readiness = { ready: false, reason: 'node informer not synced' };
    const app = build(() => state);
    const before = await app.inject('/readyz');
    expect(before.statusCode).toBe(503);
    expect(before.json()).toEqual({ status: 'not ready', reason: 'node informer not synced' });
    state = { ready: true, reason: 'leading' };
    expect((await app.inject('/readyz')).statusCode).toBe(200);
  });

  it('serves the registry in the Prometheus text format', async () => {
    const res = await build(() => ({ ready: true, reason: '' })).inject('/metrics');
    expect(res.headers['content-type']).toContain('text/plain');
    expect(res.body).toContain('baton_test_total 3');
  });
});
