import { createLogger } from '@baton/runtime';
import { describe, expect, it } from 'vitest';
import type { PromResult } from '../prometheus/promql.ts';
import { HealthQuery, healthVerdict } from './health-query.ts';

const vector = (...values: number[]): PromResult => ({
  kind: 'vector',
  samples: values.map((value, i) => ({ metric: { instance: `i${i}` }, value })),
});

describe('healthVerdict', () => {
  it.each([
    { name: 'one non-zero sample', r: vector(1), ok: true },
    { name: 'several non-zero samples', r: vector(1, 3, -2), ok: true },
    { name: 'no samples (the expression matched nothing)', r: vector(), ok: false, detail: /no samples/ },
    { name: 'one sample is 0', r: vector(1, 0), ok: false, detail: /1 of 2 sample\(s\).*instance="i1"/ },
    { name: 'NaN', r: vector(Number.NaN), ok: false },
    { name: 'scalar 1', r: { kind: 'scalar', value: 1 } as PromResult, ok: true },
    { name: 'scalar 0', r: { kind: 'scalar', value: 0 } as PromResult, ok: false },
  ])('$name → ok=$ok', (c) => {
    const v = healthVerdict(c.r);
    expect(v.ok).toBe(c.ok);
    if (c.detail) expect(v.detail).toMatch(c.detail);
  });
});

describe('HealthQuery', () => {
  function setup() {
    let t = 0;
    const pending: { resolve: (r: PromResult) => void; reject: (e: Error) => void }[] = [];
    let changes = 0;
    const q = new HealthQuery({
      expr: 'up{job="db"}',
      evaluate: () => new Promise((resolve, reject) => pending.push({ resolve, reject })),
      now: () => new Date(t),
      refreshMs: 5_000,
      maxAgeMs: 30_000,
      onChange: () => changes++,
      log: createLogger({ name: 'test', format: 'json', level: 'silent' }),
    });
    return {
      q,
      pending,
      advance: (ms: number) => (t += ms),
      changes: () => changes,
    };
  }

  it('is not healthy before its first answer, and asks once', () => {
    const s = setup();
    expect(s.q.view()).toMatchObject({ ok: false, detail: 'not evaluated yet' });
    s.q.view();
    expect(s.pending).toHaveLength(1);
  });

  it('answers from the last evaluation, refreshes after the interval, keeps the start of a healthy run', async () => {
    const s = setup();
    s.q.view();
    s.advance(100);
    s.pending[0]?.resolve(vector(1));
    await s.q.settled();
    expect(s.changes()).toBe(1);
    const first = s.q.view();
    expect(first).toMatchObject({ ok: true });
    expect(first.checkedAt?.getTime()).toBe(0); // stamped when the request left
    expect(first.since?.getTime()).toBe(0);
    expect(s.pending).toHaveLength(1); // fresh: no new request

    s.advance(5_000);
    s.q.view();
    expect(s.pending).toHaveLength(2);
    s.pending[1]?.resolve(vector(2));
    await s.q.settled();
    const second = s.q.view();
    expect(second.checkedAt?.getTime()).toBe(5_100);
    expect(second.since?.getTime()).toBe(0);
  });

  it('fails closed on an error, with the error as the reason, and a run of true answers starts again', async () => {
    const s = setup();
    s.q.view();
    s.pending[0]?.reject(new Error('Prometheus at http://p:9090 unreachable: ECONNREFUSED'));
    await s.q.settled();
    expect(s.q.view()).toMatchObject({ ok: false, detail: /ECONNREFUSED/ });
    s.advance(5_000);
    s.q.view();
    s.pending[1]?.resolve(vector(1));
    await s.q.settled();
    expect(s.q.view().since?.getTime()).toBe(5_000);
  });

  it('an answer older than the maximum age is not healthy', async () => {
    const s = setup();
    s.q.view();
    s.pending[0]?.resolve(vector(1));
    await s.q.settled();
    s.advance(31_000);
    expect(s.q.view()).toMatchObject({ ok: false, detail: /31 s old/ });
  });
});
