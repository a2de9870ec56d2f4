import { describe, expect, it } from 'vitest';
import { residualOfUniform, spreadWatchTimeouts } from './watch-timeout.ts';

/** A seeded generator, so the sample means below are the same on every run. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('spreadWatchTimeouts', () => {
  it('draws every watch after the first uniformly within [min, max]', () => {
    const next = spreadWatchTimeouts({ minSeconds: 1800, maxSeconds: 3600 }, seeded(1));
    next();
    const later = Array.from({ length: 5000 }, () => next());
    expect(Math.min(...later)).toBeGreaterThanOrEqual(1800);
    expect(Math.max(...later)).toBeLessThanOrEqual(3600);
    const mean = later.reduce((x, y) => x + y, 0) / later.length;
    expect(mean).toBeGreaterThan(2650);
    expect(mean).toBeLessThan(2750);
  });

  it('draws a first watch from the remaining life of a watch in a long run', () => {
    const random = seeded(7);
    const firsts = Array.from({ length: 20_000 }, () =>
      spreadWatchTimeouts({ minSeconds: 1800, maxSeconds: 3600 }, random)(),
    );
    // The mean residual of a length L uniform on [a, b] is E[L²] / (2 E[L]) = (a² + ab + b²) / (3 (a + b)).
    const expected = (1800 ** 2 + 1800 * 3600 + 3600 ** 2) / (3 * (1800 + 3600));
    const mean = firsts.reduce((x, y) => x + y, 0) / firsts.length;
    expect(Math.abs(mean - expected) / expected).toBeLessThan(0.02);
    expect(Math.min(...firsts)).toBeGreaterThanOrEqual(1);
    expect(Math.max(...firsts)).toBeLessThanOrEqual(3600);
    // So a fleet started together renews from the start: some first watches end within minutes.
    expect(firsts.filter((t) => t < 600).length / firsts.length).toBeGreaterThan(0.15);
  });

  it('has an inverse that covers [0, b] and is continuous at a', () => {
    expect(residualOfUniform(1800, 3600, 0)).toBe(0);
    expect(residualOfUniform(1800, 3600, 1)).toBeCloseTo(3600, 6);
    const m = 2700;
    expect(residualOfUniform(1800, 3600, 1800 / m)).toBeCloseTo(1800, 6);
    expect(residualOfUniform(1800, 3600, 1800 / m + 1e-9)).toBeCloseTo(1800, 3);
    expect(residualOfUniform(300, 300, 0.5)).toBe(150);
  });

  it('refuses a range that is no range', () => {
    expect(() => spreadWatchTimeouts({ minSeconds: 0, maxSeconds: 10 })).toThrow(/0 < min <= max/);
    expect(() => spreadWatchTimeouts({ minSeconds: 20, maxSeconds: 10 })).toThrow(/0 < min <= max/);
  });
});

describe('a watch source with spread timeouts, against an HTTP server', () => {
  it('asks the server for each watch’s own timeoutSeconds, and the client default without one', async () => {
    const { createServer } = await import('node:http');
    const { createKubeClient } = await import('./kube-client.ts');
    const { kubeListWatchSource } = await import('./informer.ts');
    const asked: string[] = [];
    const server = createServer((req, res) => {
      asked.push(new URL(req.url ?? '', 'http://x').searchParams.get('timeoutSeconds') ?? '');
      // The server ends the watch at once, as it does at its timeout.
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const client = createKubeClient({
      server: new URL(`http://127.0.0.1:${port}`),
      ca: undefined,
      cert: undefined,
      key: undefined,
      insecureSkipTlsVerify: false,
      tlsServerName: undefined,
      token: () => undefined,
      description: 'test server',
    });
    try {
      const lengths = [123, 2400];
      const spread = kubeListWatchSource(client, '/api/v1/nodes', {
        watchTimeoutSeconds: () => lengths.shift() ?? 0,
      });
      const plain = kubeListWatchSource(client, '/api/v1/nodes');
      const signal = new AbortController().signal;
      await spread.watch('1', () => {}, signal);
      await spread.watch('1', () => {}, signal);
      await plain.watch('1', () => {}, signal);
      expect(asked).toEqual(['123', '2400', '300']);
    } finally {
      client.close();
      server.close();
    }
  });
});
