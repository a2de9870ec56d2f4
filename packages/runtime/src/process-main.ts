/**
 * The shared life cycle of baton's two processes: parse the configuration once (a bad value
 * stops the process with exit code 2 before anything touches the cluster), log with pino, build
 * the component, serve /healthz, /readyz and /metrics (the runtime's node:http server, or the
 * component's own), start the component, and stop cleanly on SIGTERM or SIGINT.
 *
 * Exit codes (README "Configuration"): 0 stopped on a signal or --help; 1 an unexpected failure;
 * 2 a bad flag or environment value; 3 no usable Kubernetes configuration (a kubeconfig that is
 * missing, unreadable, not a kubeconfig or without a current context, or none at all). The last
 * two print one line per problem and no stack trace; nothing printed ever carries a credential.
 */

import { redactCredentials } from '@baton/protocol/config';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { buildHttpServer, type HttpServer, type HttpServerOptions, type Readiness } from './http-server.ts';
import { KubeConnectionError } from './kube-connection.ts';
import { createLogger, type Logger } from './logger.ts';
import { wallClock } from './wall-clock.ts';

/** Exit code for a configuration the process refuses to run with. */
export const EXIT_BAD_CONFIG = 2;

/** Exit code for a Kubernetes configuration the process cannot use (as kubectl baton's "no cluster"). */
export const EXIT_NO_CLUSTER = 3;

export interface CommonConfig {
  readonly logFormat: 'json' | 'text';
  readonly logLevel: string;
  readonly metricsHost: string;
  readonly metricsPort: number;
}

export interface RunContext<C> {
  readonly config: C;
  readonly log: Logger;
  readonly registry: Registry;
  /** Sets what /readyz answers. Not ready until the component says so. */
  setReadiness(r: Readiness): void;
}

export interface Running {
  stop(): Promise<void>;
}

/**
 * A component built and not started yet: nothing watches, ticks or listens until `start`. Built
 * first so that its HTTP surface can read what it builds (the controller's view) and a missing
 * kubeconfig stops the process before it listens.
 */
export interface Component {
  /**
   * Builds the process's HTTP server around the runtime's registry and readiness; it must answer
   * /healthz, /readyz and /metrics as {@link buildHttpServer} does. Absent: that node:http server.
   */
  readonly http?: ((surface: HttpServerOptions) => HttpServer) | undefined;
  start(): Promise<Running>;
}

export interface ProcessSpec<C extends CommonConfig> {
  readonly name: string;
  /** Parses argv and env; throws an Error whose message lists every bad value. */
  readonly parseConfig: (input: {
    argv: readonly string[];
    env: Readonly<Record<string, string | undefined>>;
  }) => C;
  /** Text printed for --help. */
  readonly usage: () => string;
  /** Fields on every log line (the agent's node name). */
  readonly logBindings?: (config: C) => Record<string, string>;
  /** Builds the component; a {@link KubeConnectionError} means exit code 3. */
  readonly build: (ctx: RunContext<C>) => Promise<Component>;
}

export interface Started<C> {
  readonly config: C;
  readonly http: HttpServer;
  readonly address: string;
  stop(): Promise<void>;
}

export interface IO {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}

export type StartResult<C> = { kind: 'started'; started: Started<C> } | { kind: 'exit'; code: number };

/**
 * Parses, then starts. Returns `exit` with the code to exit with when the process must not run
 * (bad configuration, --help); never calls process.exit itself, so it can be tested in-process.
 */
export async function startProcess<C extends CommonConfig>(
  spec: ProcessSpec<C>,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: IO,
): Promise<StartResult<C>> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout.write(spec.usage());
    return { kind: 'exit', code: 0 };
  }
  let config: C;
  try {
    config = spec.parseConfig({ argv, env });
    wallClock(env); // the tests' clock offset, checked with the rest of the configuration
  } catch (err) {
    io.stderr.write(
      `${spec.name}: invalid configuration, not starting:\n${redactCredentials((err as Error).message)}\n`,
    );
    io.stderr.write(`Run ${spec.name} --help for every flag and its expected form.\n`);
    return { kind: 'exit', code: EXIT_BAD_CONFIG };
  }

  const log = createLogger({
    name: spec.name,
    format: config.logFormat,
    level: config.logLevel,
    destination: io.stdout,
  }).child(spec.logBindings?.(config) ?? {});
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  let readiness: Readiness = { ready: false, reason: 'starting' };
  const noCluster = (err: unknown): StartResult<C> | undefined => {
    if (!(err instanceof KubeConnectionError)) return undefined;
    // The one line names the file and what is wrong; a stack would only hide it.
    io.stderr.write(`${spec.name}: not starting: ${redactCredentials(oneLine(err.message))}\n`);
    return { kind: 'exit', code: EXIT_NO_CLUSTER };
  };
  let component: Component;
  try {
    component = await spec.build({ config, log, registry, setReadiness: (r) => (readiness = r) });
  } catch (err) {
    const exit = noCluster(err);
    if (exit !== undefined) return exit;
    throw err;
  }
  const surface = { registry, readiness: () => readiness };
  const http = component.http?.(surface) ?? buildHttpServer(surface);
  const address = await http.listen({ host: config.metricsHost, port: config.metricsPort });

  let running: Running;
  try {
    running = await component.start();
  } catch (err) {
    await http.close();
    const exit = noCluster(err);
    if (exit !== undefined) return exit;
    throw err;
  }
  // Logged once the component runs: a process that cannot start prints only why.
  log.info({ address }, 'serving /healthz, /readyz and /metrics');
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      log.info('stopping');
      await running.stop();
      await http.close();
      log.info('stopped');
    })();
    return stopping;
  };
  return { kind: 'started', started: { config, http, address, stop } };
}

/** Entry point for main.ts: starts, wires signals, sets the exit code. */
export async function runMain<C extends CommonConfig>(spec: ProcessSpec<C>): Promise<void> {
  let result: StartResult<C>;
  try {
    result = await startProcess(spec, process.argv.slice(2), process.env, {
      stdout: process.stdout,
      stderr: process.stderr,
    });
  } catch (err) {
    const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(`${spec.name}: failed to start: ${redactCredentials(text)}\n`);
    process.exitCode = 1;
    return;
  }
  if (result.kind === 'exit') {
    process.exitCode = result.code;
    return;
  }
  const { stop } = result.started;
  const onSignal = (sig: NodeJS.Signals) => {
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`${spec.name}: error while stopping on ${sig}: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ');
}
