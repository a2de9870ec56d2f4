/**
 * Where the control-plane binaries are, building them first when the cache lacks them.
 * The build itself (pinned versions, one consumer module per component) is e2e/tools/build.sh.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const buildScript = join(dirname(fileURLToPath(import.meta.url)), '..', 'tools', 'build.sh');

export interface ToolPaths {
  readonly etcd: string;
  readonly kubeApiserver: string;
  readonly kubeControllerManager: string;
  readonly kubeScheduler: string;
  readonly kubectl: string;
  readonly kwok: string;
  readonly kwokStages: string;
  readonly helm: string;
}

const CLUSTER_COMPONENTS: readonly string[] = ['etcd', 'k8s', 'kwok', 'helm'];

async function componentDirs(): Promise<Record<string, string>> {
  const { stdout } = await run('bash', [buildScript, '--print-paths']);
  const dirs: Record<string, string> = {};
  for (const line of stdout.trim().split('\n')) {
    const [k, v] = line.split('=', 2);
    if (k && v) dirs[k] = v;
  }
  return dirs;
}

function pathsFrom(dirs: Record<string, string>): ToolPaths {
  const d = (k: string): string => {
    const v = dirs[k];
    if (!v) throw new Error(`build.sh --print-paths did not name a directory for ${k}`);
    return v;
  };
  return {
    etcd: join(d('etcd'), 'etcd'),
    kubeApiserver: join(d('k8s'), 'kube-apiserver'),
    kubeControllerManager: join(d('k8s'), 'kube-controller-manager'),
    kubeScheduler: join(d('k8s'), 'kube-scheduler'),
    kubectl: join(d('k8s'), 'kubectl'),
    kwok: join(d('kwok'), 'kwok'),
    kwokStages: join(d('kwok'), 'stages.yaml'),
    helm: join(d('helm'), 'helm'),
  };
}

/**
 * Returns the binaries' paths, running build.sh (with its progress on stderr) for any component
 * that is not cached yet. A cached set returns in well under a second.
 */
export async function ensureTools(): Promise<ToolPaths> {
  const dirs = await componentDirs();
  // The control plane's components; prometheus (also in build.sh) is built by the test that uses it.
  const missing = Object.entries(dirs)
    .filter(([name]) => CLUSTER_COMPONENTS.includes(name))
    .filter(([, dir]) => !existsSync(join(dir, '.complete')))
    .map(([name]) => name);
  if (missing.length > 0) {
    await new Promise<void>((resolve, reject) => {
      const child = spawn('bash', [buildScript, ...missing], { stdio: ['ignore', 'inherit', 'inherit'] });
      child.once('error', reject);
      child.once('exit', (code) =>
        code === 0
          ? resolve()
          : reject(new Error(`e2e/tools/build.sh ${missing.join(' ')} failed (exit ${code})`)),
      );
    });
  }
  return pathsFrom(dirs);
}
