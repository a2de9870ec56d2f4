/**
 * One run of `kubectl baton`: parse, connect, run the command, and turn every failure into a
 * message on stderr and an exit code. Never calls process.exit, so it can be tested in-process.
 */
import { parseCommandLine } from './args.ts';
import { type Cluster, kubeCluster } from './cluster.ts';
import { runCommand } from './commands.ts';
import { CliError, ExitCode } from './errors.ts';
import { type KubeConfigSource, loadUserKubeConfig } from './kubeconfig.ts';

export interface CliIO {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** How to reach the cluster; the default loads the kubeconfig like kubectl. */
  readonly connect?: (source: KubeConfigSource, namespace: string, requestTimeoutMs: number) => Cluster;
  readonly now?: () => Date;
}

export const PROGRAM = 'kubectl baton';

export async function runCli(argv: readonly string[], io: CliIO): Promise<number> {
  try {
    const parsed = parseCommandLine(argv);
    if (parsed.kind === 'help') {
      io.stdout(parsed.text);
      return ExitCode.Ok;
    }
    const { global, command } = parsed;
    const connect =
      io.connect ??
      ((source, namespace, requestTimeoutMs) =>
        kubeCluster(loadUserKubeConfig(source, io.env), namespace, { requestTimeoutMs }));
    const cluster = connect(
      { kubeconfig: global.kubeconfig, context: global.context },
      global.namespace,
      global.requestTimeoutMs,
    );
    await runCommand(command, {
      cluster,
      global,
      now: io.now ?? (() => new Date()),
      stdout: io.stdout,
      stderr: io.stderr,
    });
    return ExitCode.Ok;
  } catch (err) {
    if (err instanceof CliError) {
      io.stderr(`${PROGRAM}: ${err.message}\n`);
      if (err.exitCode === ExitCode.Usage && !err.message.includes('--help')) {
        io.stderr(`Run ${PROGRAM} --help for the commands and flags.\n`);
      }
      return err.exitCode;
    }
    io.stderr(
      `${PROGRAM}: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    return ExitCode.Failed;
  }
}
