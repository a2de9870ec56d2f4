/**
 * The Dockerfiles checked against what is tested, without container tooling (e2e/real-node.e2e.ts
 * builds them with buildah and runs them): the bundle paths scripts/bundle.ts writes (and
 * bundle.test.ts starts), the pinned Node and pnpm versions of package.json, the user and port the
 * chart runs each image with, and the files the build stage copies.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { agentOptions, controllerOptions, describeOptions } from '@baton/protocol/config';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { bundles } from './bundle.ts';
import { chartPath, type K8sObject, only, renderChart } from './chart.ts';

const root = join(chartPath, '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  packageManager: string;
  devDependencies: Record<string, string>;
  scripts: Record<string, string>;
};

interface Instruction {
  readonly op: string;
  readonly args: string;
}

/** Instructions per stage; continuation lines joined, comments dropped. */
function stages(file: string): Instruction[][] {
  const text = readFileSync(join(root, file), 'utf8').replaceAll(/\\\n\s*/g, ' ');
  const out: Instruction[][] = [[]];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) continue;
    const [op = '', ...rest] = t.split(/\s+/);
    const ins = { op: op.toUpperCase(), args: rest.join(' ') };
    if (ins.op === 'FROM') out.push([]);
    out[out.length - 1]?.push(ins);
  }
  return out; // [0]: global ARGs before the first FROM
}

const arg = (ins: Instruction[], name: string) =>
  ins.find((i) => i.op === 'ARG' && i.args.startsWith(`${name}=`))?.args.slice(name.length + 1);

describe.each(['controller', 'agent'] as const)('Dockerfile.%s', (component) => {
  const file = `Dockerfile.${component}`;
  const [globals = [], build = [], runtime = []] = stages(file);
  let objects: K8sObject[];
  beforeAll(async () => {
    objects = (await renderChart()).objects;
  }, 120_000);

  it('is multi-stage on the pinned Node 24 of package.json, and pnpm of packageManager', () => {
    expect(stages(file)).toHaveLength(3);
    const image = arg(globals, 'NODE_IMAGE');
    expect(image).toBe(`node:${pkg.devDependencies.node}-bookworm-slim`);
    expect(pkg.devDependencies.node).toMatch(/^24\.\d+\.\d+$/);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a Dockerfile variable, not a JS template.
    const ref = '${NODE_IMAGE}';
    expect(build[0]).toEqual({ op: 'FROM', args: `${ref} AS build` });
    expect(runtime[0]).toEqual({ op: 'FROM', args: ref });
    expect(build.some((i) => i.op === 'RUN' && i.args.includes(pkg.packageManager))).toBe(true);
  });

  it('builds with the frozen lockfile and the bundle script, copying only files that exist', () => {
    const runs = build.filter((i) => i.op === 'RUN').map((i) => i.args);
    expect(runs).toContain('pnpm install --frozen-lockfile');
    expect(runs).toContain('pnpm run build');
    expect(pkg.scripts.build).toBe('node scripts/bundle.ts');
    for (const copy of build.filter((i) => i.op === 'COPY')) {
      const sources = copy.args.split(/\s+/).slice(0, -1);
      for (const src of sources) expect(existsSync(join(root, src)), `${file}: COPY ${src}`).toBe(true);
    }
    // Every workspace package.json, or the frozen install of the workspace fails.
    const workspace = parse(readFileSync(join(root, 'pnpm-workspace.yaml'), 'utf8')) as {
      packages: string[];
    };
    const copied = build.filter((i) => i.op === 'COPY').flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    for (const pattern of workspace.packages) {
      const dirs = pattern.endsWith('/*')
        ? readdirSync(join(root, pattern.slice(0, -2))).map((p) => `${pattern.slice(0, -2)}/${p}`)
        : [pattern];
      for (const d of dirs) expect(copied, `${file} copies ${d}/package.json`).toContain(`${d}/package.json`);
    }
  });

  it('runs nothing but the production bundle that scripts/bundle.ts writes', () => {
    const out = bundles[component].out; // dist/<component>/main.mjs
    const copies = runtime.filter((i) => i.op === 'COPY');
    expect(copies).toEqual([{ op: 'COPY', args: `--from=build /src/${dirname(out)}/ /app/` }]);
    // Node's flags are the ones scripts/bundle.ts names for the component (the agent's memory).
    const argv = ['node', ...bundles[component].nodeFlags, `/app/${basename(out)}`];
    expect(runtime.find((i) => i.op === 'ENTRYPOINT')?.args).toBe(
      `[${argv.map((a) => `"${a}"`).join(', ')}]`,
    );
    expect(runtime.filter((i) => i.op === 'RUN')).toEqual([]); // no install step: nothing but node and the file
    // The malloc settings scripts/bundle.ts names for the component, after NODE_ENV.
    const env = Object.entries(bundles[component].env).map(([k, v]) => `${k}=${v}`);
    expect(runtime.find((i) => i.op === 'ENV')?.args).toBe(['NODE_ENV=production', ...env].join(' '));
  });

  it('runs as the user the chart runs it as: non-root for the controller', () => {
    const user = runtime.find((i) => i.op === 'USER')?.args ?? '';
    const uid = Number(user.split(':')[0]);
    const workload = only(objects, component === 'controller' ? 'Deployment' : 'DaemonSet');
    const pod = workload.spec.template.spec;
    const chartUid = pod.securityContext?.runAsUser ?? pod.containers[0].securityContext?.runAsUser;
    expect(uid).toBe(chartUid);
    if (component === 'controller') expect(uid).toBeGreaterThan(0);
  });

  it("exposes the process's default metrics port, which the chart uses", () => {
    const table = component === 'controller' ? controllerOptions : agentOptions;
    const port = describeOptions(table).find((r) => r.flag === '--metrics-port')?.default;
    expect(runtime.find((i) => i.op === 'EXPOSE')?.args).toBe(port);
    const workload = only(objects, component === 'controller' ? 'Deployment' : 'DaemonSet');
    expect(String(workload.spec.template.spec.containers[0].ports[0].containerPort)).toBe(port);
  });

  it('carries the OCI labels', () => {
    const labels = runtime
      .filter((i) => i.op === 'LABEL')
      .map((i) => i.args)
      .join(' ');
    for (const key of ['title', 'description', 'version', 'revision', 'licenses']) {
      expect(labels).toContain(`org.opencontainers.image.${key}=`);
    }
    expect(labels).toContain(`org.opencontainers.image.title="baton-${component}"`);
  });
});

it("keeps node_modules and dist out of the build context, and the chart's appVersion is the packages' version", () => {
  const ignore = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n');
  expect(ignore).toEqual(expect.arrayContaining(['**/node_modules', 'dist']));
  const chart = parse(readFileSync(join(chartPath, 'Chart.yaml'), 'utf8')) as { appVersion: string };
  for (const p of ['controller', 'agent']) {
    const version = (
      JSON.parse(readFileSync(join(root, 'packages', p, 'package.json'), 'utf8')) as { version: string }
    ).version;
    expect(chart.appVersion).toBe(version);
  }
});
