/**
 * The user's kubeconfig, through the runtime's one loader the way kubectl finds it:
 * `--kubeconfig`, else the files of KUBECONFIG merged (the first file to set a name or the
 * current context wins), else ~/.kube/config, else the pod's ServiceAccount when run inside a
 * cluster; then `--context`. Exec credential plugins and the rest of kubeconfig's user forms
 * come with client-node.
 *
 * Never a silent default: client-node alone falls back to http://localhost:8080, and a tool
 * that releases reboot permissions must not talk to whatever listens there.
 *
 * Every problem is one line naming the file (exit code 3, "no cluster"); never a YAML parser's
 * excerpt of the file, and never a credential: a server URL with one in it is refused, so the
 * URL the other messages show carries none. Problems with the context are worded for this
 * command line (they mention --context).
 */
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { KubeConnectionError, type KubeconfigProblem, loadKubeConfig } from '@baton/runtime';
import type { KubeConfig } from '@kubernetes/client-node';
import { CliError, ExitCode } from './errors.ts';

export interface KubeConfigSource {
  readonly kubeconfig: string | undefined;
  readonly context: string | undefined;
}

const noCluster = (message: string) => new CliError(ExitCode.NoCluster, message);

/** The loader's problems about finding a file or a context, in this command line's words. */
function worded(p: KubeconfigProblem, home: string): string {
  if (p.kind === 'none-found') {
    return p.fromEnv
      ? `no cluster: none of the KUBECONFIG files exist (${p.listed.join(delimiter)})`
      : `no cluster: no --kubeconfig, no KUBECONFIG and no ${join(home, '.kube', 'config')}`;
  }
  if (p.kind === 'no-such-file') return `--kubeconfig ${p.path}: no such file`;
  const where =
    p.files.length === 0
      ? p.where
      : p.files.length === 1
        ? `kubeconfig ${p.files[0]}`
        : `the kubeconfig files ${p.files.join(delimiter)}`;
  switch (p.kind) {
    case 'no-current-context':
      return `no cluster: ${where} has no current context; give --context or run kubectl config use-context`;
    case 'unknown-context':
      return p.requested
        ? `--context ${p.name}: no such context in ${where} (${p.known.length > 0 ? `contexts: ${p.known.join(', ')}` : 'it has none'})`
        : `no cluster: ${where}: the current context ${p.name} is not defined; give --context or run kubectl config use-context`;
    case 'unknown-cluster':
      return `no cluster: ${where}: context ${p.context} names a cluster the kubeconfig does not define`;
  }
}

export function loadUserKubeConfig(
  source: KubeConfigSource,
  env: Readonly<Record<string, string | undefined>> = process.env,
  home: string = homedir(),
): KubeConfig {
  try {
    return loadKubeConfig({
      kubeconfig: source.kubeconfig,
      context: source.context,
      order: 'files-first',
      env,
      home,
    });
  } catch (err) {
    if (err instanceof KubeConnectionError) {
      throw noCluster(err.problem !== undefined ? worded(err.problem, home) : err.message);
    }
    throw err;
  }
}
