/**
 * pino, configured once from the parsed configuration: JSON for machines (the default in the
 * images), a plain single-line text format for people reading a terminal.
 */
import { type Logger, pino } from 'pino';

export type { Logger } from 'pino';

export interface LoggerOptions {
  readonly name: string;
  readonly format: 'json' | 'text';
  readonly level: string;
  /** Where lines go (default stdout); tests pass a stream to read them back. */
  readonly destination?: NodeJS.WritableStream;
}

/** Async because text loads pino-pretty first, and only then: it costs memory the agent saves. */
export async function createLogger(opts: LoggerOptions): Promise<Logger> {
  const base = { name: opts.name, level: opts.level };
  if (opts.format === 'text') return createTextLogger(base, opts.destination);
  return opts.destination ? pino(base, opts.destination) : pino(base);
}

async function createTextLogger(
  base: { name: string; level: string },
  destination: NodeJS.WritableStream | undefined,
): Promise<Logger> {
  // pino-pretty as a plain stream, not a worker-thread transport: it keeps working inside the
  // single-file bundles the images run.
  const { default: pretty } = await import('pino-pretty');
  const stream = pretty({
    colorize: false,
    sync: true,
    translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l',
    ignore: 'pid,hostname',
    destination: destination ?? process.stdout,
  });
  return pino(base, stream);
}
