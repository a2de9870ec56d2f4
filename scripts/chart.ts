/**
 * Runs the real `helm` (built by e2e/tools/build.sh, pinned) on charts/baton and parses what it
 * renders, for the chart's unit tests and the e2e that installs it. Nothing here talks to a
 * cluster: `template` and `lint` are offline.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const chartPath = join(root, 'charts', 'baton');
const buildScript = join(root, 'e2e', 'tools', 'build.sh');

/**
 * The Kubernetes version `helm template` renders for. A helm built from its module without
 * release ldflags reports v1.20, below the chart's kubeVersion; a real install reads the
 * cluster's own version instead.
 */
export const RENDER_KUBE_VERSION = '1.35.0';

/** The build.sh component each binary comes from. */
const COMPONENT_OF = {
  helm: 'helm',
  promtool: 'prometheus',
  prometheus: 'prometheus',
  kubelet: 'kubelet',
} as const;

/** Path of a binary built by build.sh, building its component first when the cache lacks it. */
export async function toolBinary(binary: keyof typeof COMPONENT_OF): Promise<string> {
  const component = COMPONENT_OF[binary];
  const { stdout } = await run('bash', [buildScript, '--print-paths']);
  const dir = stdout
    .split('\n')
    .find((l) => l.startsWith(`${component}=`))
    ?.slice(component.length + 1);
  if (!dir) throw new Error(`build.sh --print-paths names no ${component}`);
  if (!existsSync(join(dir, '.complete'))) {
    await run('bash', [buildScript, component], { maxBuffer: 64 * 1024 * 1024 });
  }
  return join(dir, binary);
}

/** One rendered Kubernetes object, loosely typed: tests look at the fields they assert on. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: rendered manifests of many kinds; tests read known paths.
  [field: string]: any;
}

export interface HelmResult {
  readonly ok: boolean;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs helm; never throws on a non-zero exit (tests assert on failures too). */
export async function helm(args: readonly string[]): Promise<HelmResult> {
  const bin = await toolBinary('helm');
  try {
    const { stdout, stderr } = await run(bin, [...args], { maxBuffer: 32 * 1024 * 1024 });
    return { ok: true, stdout, stderr };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
  }
}

/** Writes `values` to a temporary file and calls `use` with `-f <file>` arguments. */
export async function withValuesFile<T>(
  values: object | undefined,
  use: (args: readonly string[]) => Promise<T>,
): Promise<T> {
  if (values === undefined) return use([]);
  const dir = await mkdtemp(join(tmpdir(), 'baton-chart-'));
  try {
    const file = join(dir, 'values.json');
    await writeFile(file, JSON.stringify(values));
    return await use(['-f', file]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `helm template`; the result's `objects` are the parsed documents (empty when it failed). */
export async function renderChart(
  values?: object,
  opts: { release?: string; namespace?: string } = {},
): Promise<HelmResult & { objects: K8sObject[] }> {
  const res = await withValuesFile(values, (valueArgs) =>
    helm([
      'template',
      opts.release ?? 'baton',
      chartPath,
      '--namespace',
      opts.namespace ?? 'baton',
      '--kube-version',
      RENDER_KUBE_VERSION,
      ...valueArgs,
    ]),
  );
  if (!res.ok) return { ...res, objects: [] };
  const objects = parseAllDocuments(res.stdout)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
  return { ...res, objects };
}

/** The one object of this kind (and name, if given); throws when there is not exactly one. */
export function only(objects: readonly K8sObject[], kind: string, name?: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) {
    throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  }
  return found[0] as K8sObject;
}
