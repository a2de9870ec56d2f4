/**
 * What fastify would add to the agent's resident memory (DESIGN: the agent stays on node:http
 * unless fastify costs it ≤ 3 MiB). Two bundles built as scripts/bundle.ts builds the agent's
 * (esbuild, minified, one file): the agent as shipped, serving /healthz, /readyz and /metrics
 * through node:http, and a variant that serves the same three routes through fastify. Both run
 * side by side against an API server that does not exist (127.0.0.1:1), so both retry their
 * watches alike and nothing else differs; each is asked the three routes once, left to settle
 * for 30 s as bench/agent-memory.ts does (V8 shrinks its heap only after a quiet while), then its
 * RSS is sampled 20 times, 500 ms apart, and the median taken. Repeated BENCH_RUNS times (5);
 * the figure is the median of the runs' differences.
 *
 *   npx pnpm@12.4.2 run bench:agent-http-memory
 *
 * Prints one line per run and the result; writes bench/results/agent-http-memory.json.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freeLocalPort, unreachableKubeconfig } from '@baton/runtime/test-support';
import { build } from 'esbuild';
import { rssMiB, sleep } from './lib.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const IDLE_SETTLE_MS = 30_000;
const SAMPLES = 20;

/** The variant's entry: the agent as main.ts runs it, with a fastify server for its three routes. */
const FASTIFY_ENTRY = `
import { HEALTHY_BODY, readinessAnswer, runMain } from '@baton/runtime';
import Fastify from 'fastify';
import { agentProcess } from '../../agent/src/wiring/start-agent.ts';

const http = ({ registry, readiness }) => {
  const app = Fastify({ logger: false, keepAliveTimeout: 5_000, forceCloseConnections: true });
  app.get('/healthz', async () => HEALTHY_BODY);
  app.get('/readyz', async (_req, reply) => {
    const { code, body } = readinessAnswer(readiness());
    return reply.code(code).send(body);
  });
  app.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));
  return { listen: ({ host, port }) => app.listen({ host, port }), close: () => app.close() };
};
await runMain({ ...agentProcess, build: async (ctx) => ({ ...(await agentProcess.build(ctx)), http }) });
`;

const REQUIRE_SHIM =
  "import { createRequire as __batonCreateRequire } from 'node:module'; const require = __batonCreateRequire(import.meta.url);";

async function bundleVariants(dir: string): Promise<{ nodeHttp: string; fastify: string }> {
  const common = {
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    minify: true,
    logLevel: 'warning',
    banner: { js: REQUIRE_SHIM },
  } as const;
  const nodeHttp = join(dir, 'node-http.mjs');
  const fastify = join(dir, 'fastify.mjs');
  await build({ ...common, entryPoints: [join(root, 'packages/agent/src/main.ts')], outfile: nodeHttp });
  await build({
    ...common,
    // Resolved from the controller's package, the one that depends on fastify.
    stdin: {
      contents: FASTIFY_ENTRY,
      loader: 'ts',
      resolveDir: join(root, 'packages/controller/src'),
      sourcefile: 'agent-fastify-main.ts',
    },
    outfile: fastify,
  });
  return { nodeHttp, fastify };
}

async function idleRss(bundle: string, dir: string, kubeconfig: string): Promise<number> {
  const port = await freeLocalPort();
  const child = spawn(
    process.execPath,
    [
      bundle,
      '--node-id=bench-node',
      '--metrics-host=127.0.0.1',
      `--metrics-port=${port}`,
      `--kubeconfig=${kubeconfig}`,
      `--reboot-sentinel=${join(dir, 'reboot-required')}`,
      '--log-level=error',
    ],
    { stdio: 'ignore' },
  );
  try {
    await sleep(3_000);
    for (const path of ['/healthz', '/readyz', '/metrics']) {
      const res = await fetch(`http://127.0.0.1:${port}${path}`);
      if (path !== '/readyz' && !res.ok) throw new Error(`${bundle}: ${path} answered ${res.status}`);
      await res.text();
    }
    await sleep(IDLE_SETTLE_MS);
    const samples: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      samples.push(rssMiB(child.pid ?? 0));
      await sleep(500);
    }
    return median(samples);
  } finally {
    child.kill('SIGTERM');
  }
}

const median = (xs: readonly number[]) =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

const work = await mkdtemp(join(tmpdir(), 'baton-bench-agent-http-'));
try {
  const { nodeHttp, fastify } = await bundleVariants(work);
  const kubeconfig = await unreachableKubeconfig(work);
  const runs: { nodeHttpMiB: number; fastifyMiB: number; differenceMiB: number }[] = [];
  for (let i = 0; i < RUNS; i++) {
    // Side by side: whatever else the machine does meanwhile weighs on both alike.
    const [a, b] = await Promise.all([
      idleRss(nodeHttp, work, kubeconfig),
      idleRss(fastify, work, kubeconfig),
    ]);
    const run = { nodeHttpMiB: +a.toFixed(1), fastifyMiB: +b.toFixed(1), differenceMiB: +(b - a).toFixed(1) };
    runs.push(run);
    process.stdout.write(
      `run ${i + 1}/${RUNS}: node:http ${run.nodeHttpMiB} MiB, fastify ${run.fastifyMiB} MiB, +${run.differenceMiB} MiB\n`,
    );
  }
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    runs,
    medianNodeHttpMiB: +median(runs.map((r) => r.nodeHttpMiB)).toFixed(1),
    medianFastifyMiB: +median(runs.map((r) => r.fastifyMiB)).toFixed(1),
    medianDifferenceMiB: +median(runs.map((r) => r.differenceMiB)).toFixed(1),
    thresholdMiB: 3,
    loadAverage1m: +(loadavg()[0] ?? 0).toFixed(2),
  };
  process.stdout.write(
    `fastify adds ${result.medianDifferenceMiB} MiB (median of ${RUNS} runs; threshold ${result.thresholdMiB} MiB)\n`,
  );
  await mkdir(join(root, 'bench', 'results'), { recursive: true });
  await writeFile(
    join(root, 'bench', 'results', 'agent-http-memory.json'),
    `${JSON.stringify(result, null, 2)}\n`,
  );
} finally {
  await rm(work, { recursive: true, force: true });
}
