/**
 * pino, configured once from the parsed configuration: JSON for machines (the default in the
 * images), a plain single-line text format for people reading a terminal. The text format is
 * pino's JSON re-written line by line here, not pino-pretty: one less dependency in the agent,
 * and no worker thread inside the single-file bundles.
 */
import { Writable } from 'node:stream';
import { type Logger, pino } from 'pino';

export type { Logger } from 'pino';

export interface LoggerOptions {
  readonly name: string;
  readonly format: 'json' | 'text';
  readonly level: string;
  /** Where lines go (default stdout); tests pass a stream to read them back. */
  readonly destination?: NodeJS.WritableStream;
}

const LEVEL_NAMES: Readonly<Record<number, string>> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

/** Fields every line has, printed in front or not at all. */
const FIXED = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg']);

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** `2026-11-26 03:04:05.678` in local time, as a person reading a terminal expects. */
function localTime(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function value(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v) ?? String(v);
}

/** One pino JSON line → `time LEVEL (name): msg key=value …`; a line that is not JSON passes through. */
export function textLine(json: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const level = LEVEL_NAMES[Number(rec.level)] ?? String(rec.level);
  const time = typeof rec.time === 'number' ? localTime(rec.time) : '';
  const fields = Object.entries(rec)
    .filter(([k]) => !FIXED.has(k))
    .map(([k, v]) => `${k}=${value(v)}`)
    .join(' ');
  return `${time} ${level} (${String(rec.name ?? '')}): ${String(rec.msg ?? '')}${fields ? ` ${fields}` : ''}`;
}

function textStream(destination: NodeJS.WritableStream): Writable {
  let pending = '';
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      pending += chunk.toString('utf8');
      let nl = pending.indexOf('\n');
      let out = '';
      while (nl >= 0) {
        out += `${textLine(pending.slice(0, nl))}\n`;
        pending = pending.slice(nl + 1);
        nl = pending.indexOf('\n');
      }
      if (out === '') return done();
      destination.write(out);
      done();
    },
  });
}

export function createLogger(opts: LoggerOptions): Logger {
  const base = { name: opts.name, level: opts.level };
  if (opts.format === 'text') return pino(base, textStream(opts.destination ?? process.stdout));
  return opts.destination ? pino(base, opts.destination) : pino(base);
}
