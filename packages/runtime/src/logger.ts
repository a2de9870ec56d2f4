/**
 * pino, configured once from the parsed configuration: JSON for machines (the default in the
 * images), a plain single-line text format for people reading a terminal.
 */
import { type Logger, pino } from 'pino';
import pretty from 'pino-pretty';

export type { Logger } from 'pino';

export interface LoggerOptions {
  readonly name: string;
  readonly format: 'json' | 'text';
  readonly level: string;
  /** Where lines go (default stdout); tests pass a stream to read them back. */
  readonly destination?: NodeJS.WritableStream;
}

export function createLogger(opts: LoggerOptions): Logger {
  const base = { name: opts.name, level: opts.level };
  if (opts.format === 'text') {
    // pino-pretty as a plain stream, not a worker-thread transport: it keeps working inside the
    // single-file bundles the images run.
    const stream = pretty({
      colorize: false,
      sync: true,
      translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l',
      ignore: 'pid,hostname',
      destination: opts.destination ?? process.stdout,
    });
    return pino(base, stream);
  }
  return opts.destination ? pino(base, opts.destination) : pino(base);
}
