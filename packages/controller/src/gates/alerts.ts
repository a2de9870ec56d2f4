/**
 * The alerts gate: asks Prometheus (`/api/v1/alerts`) and/or Alertmanager (`/api/v2/alerts`)
 * for active alerts once per period, filters them, and keeps one cached verdict that every
 * reconcile reads (never one request per node).
 *
 * Fail closed: a source that cannot be asked, answers with an error status, or answers with
 * something that is not the alerts API's JSON blocks every grant, with a reason naming the
 * source and a message naming the cause. Nobody can tell that no alert fires, so nothing reboots.
 *
 * Filters (kured's, plus label matchers):
 * - name regex: without `matchOnly` an alert whose name matches is ignored; with `matchOnly` only
 *   matching alerts count. So an alert counts exactly when "name matches" equals `matchOnly`.
 * - label matchers: an alert counts only if it satisfies every matcher (a missing label reads
 *   as the empty string, as in PromQL).
 * - firing only: Prometheus's pending alerts do not count. Alertmanager only knows firing alerts.
 */

import { GateReason } from '@baton/protocol';
import type { AlertLabelMatcher } from '@baton/protocol/config';
import { type HttpRequest, prometheusRequestOptions, type ReadFile } from '../prometheus/client.ts';
import type { NodeGate } from './gate.ts';

export interface Alert {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Prometheus: `firing` | `pending`; Alertmanager: always `firing` (it only receives those). */
  readonly state: string;
}

export interface AlertFilter {
  readonly nameRegexp: RegExp | undefined;
  readonly matchOnly: boolean;
  readonly firingOnly: boolean;
  readonly labelMatchers: readonly AlertLabelMatcher[];
}

function matcherHolds(m: AlertLabelMatcher, labels: Readonly<Record<string, string>>): boolean {
  const value = labels[m.name] ?? '';
  switch (m.operator) {
    case '=':
      return value === m.value;
    case '!=':
      return value !== m.value;
    case '=~':
      return m.regex?.test(value) ?? false;
    case '!~':
      return !(m.regex?.test(value) ?? false);
  }
  return false;
}

/** Whether `alert` blocks reboots under `filter`. */
export function alertCounts(alert: Alert, filter: AlertFilter): boolean {
  if (filter.firingOnly && alert.state !== 'firing') return false;
  if (filter.nameRegexp !== undefined) {
    // A global or sticky regexp would carry lastIndex between calls; parseRegex never makes one.
    if (filter.nameRegexp.test(alert.name) !== filter.matchOnly) return false;
  }
  return filter.labelMatchers.every((m) => matcherHolds(m, alert.labels));
}

export class AlertResponseError extends Error {}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

function stringLabels(v: unknown, where: string): Record<string, string> {
  if (!isRecord(v)) throw new AlertResponseError(`${where}: "labels" is not an object`);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') throw new AlertResponseError(`${where}: label "${k}" is not a string`);
    out[k] = val;
  }
  return out;
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    const start = body.slice(0, 60).replace(/\s+/g, ' ');
    throw new AlertResponseError(`the body is not JSON (it starts with "${start}")`);
  }
}

/**
 * Prometheus `GET /api/v1/alerts`: `{"status":"success","data":{"alerts":[{labels,state,…}]}}`.
 * Anything else (an `error` status, a missing field, another shape) is an error: silently
 * reading "no alerts" out of an unexpected body would reboot nodes during an incident.
 */
export function parsePrometheusAlerts(body: string): Alert[] {
  const doc = parseJson(body);
  if (!isRecord(doc)) throw new AlertResponseError('the body is not a JSON object');
  if (doc.status !== 'success') {
    const error = typeof doc.error === 'string' ? `: ${doc.error}` : '';
    throw new AlertResponseError(`status is ${JSON.stringify(doc.status ?? null)}, not "success"${error}`);
  }
  const data = doc.data;
  if (!isRecord(data) || !Array.isArray(data.alerts)) {
    throw new AlertResponseError('"data.alerts" is missing or not a list');
  }
  return data.alerts.map((a: unknown, i: number) => {
    const where = `alert ${i}`;
    if (!isRecord(a)) throw new AlertResponseError(`${where} is not an object`);
    const labels = stringLabels(a.labels, where);
    if (typeof a.state !== 'string') throw new AlertResponseError(`${where}: "state" is not a string`);
    return { name: labels.alertname ?? '', labels, state: a.state };
  });
}

/**
 * Alertmanager `GET /api/v2/alerts`: a list of `{labels, status: {state}}`. Suppressed alerts
 * (silenced or inhibited) do not count; `active` and `unprocessed` (not yet matched against
 * silences) do. Every alert Alertmanager holds is firing on its Prometheus.
 */
export function parseAlertmanagerAlerts(body: string): Alert[] {
  const doc = parseJson(body);
  if (!Array.isArray(doc)) throw new AlertResponseError('the body is not a JSON list of alerts');
  const alerts: Alert[] = [];
  doc.forEach((a: unknown, i: number) => {
    const where = `alert ${i}`;
    if (!isRecord(a)) throw new AlertResponseError(`${where} is not an object`);
    const labels = stringLabels(a.labels, where);
    const status = a.status;
    if (!isRecord(status) || typeof status.state !== 'string') {
      throw new AlertResponseError(`${where}: "status.state" is missing`);
    }
    if (status.state === 'suppressed') return;
    alerts.push({ name: labels.alertname ?? '', labels, state: 'firing' });
  });
  return alerts;
}

// ---------------------------------------------------------------------------------------------
// Asking the sources
// ---------------------------------------------------------------------------------------------

/** How the sources are asked: the one Prometheus client's request (prometheus/client.ts). */
export type HttpGet = HttpRequest;
export type { ReadFile };

export interface AlertSourceSettings {
  readonly prometheusUrl: string | undefined;
  readonly alertmanagerUrl: string | undefined;
  readonly bearerTokenFile: string | undefined;
  readonly basicAuthFile: string | undefined;
  readonly caFile: string | undefined;
  readonly timeoutMs: number;
}

export type AlertVerdict =
  | { readonly blocked: false; readonly checkedAt: Date }
  | {
      readonly blocked: true;
      readonly reason: GateReason;
      readonly detail: string;
      readonly checkedAt: Date;
    };

/** `base` + `path`, keeping a path prefix (`http://host/prometheus/` → `…/prometheus/api/v1/alerts`). */
export function apiUrl(base: string, path: string, query = ''): string {
  const url = new URL(base);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${path}`;
  url.search = query;
  url.hash = '';
  return url.href;
}

/** A URL for messages: credentials in it are never printed. */
function shown(url: string): string {
  const u = new URL(url);
  u.username = '';
  u.password = '';
  return u.href;
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}

async function askSource(
  url: string,
  parse: (body: string) => Alert[],
  opts: { headers: Record<string, string>; ca: string | undefined; timeoutMs: number },
  get: HttpGet,
): Promise<Alert[]> {
  let res: { status: number; body: string };
  try {
    res = await get(url, opts);
  } catch (err) {
    throw new Error(`GET ${shown(url)}: ${errorText(err)}`);
  }
  if (res.status < 200 || res.status > 299) {
    const snippet = res.body.slice(0, 120).replace(/\s+/g, ' ').trim();
    throw new Error(`GET ${shown(url)}: HTTP ${res.status}${snippet ? ` (${snippet})` : ''}`);
  }
  try {
    return parse(res.body);
  } catch (err) {
    throw new Error(`GET ${shown(url)}: unexpected answer: ${errorText(err)}`);
  }
}

function describeAlerts(source: string, alerts: readonly Alert[]): string {
  const names = [
    ...new Set(
      alerts.map((a) => `${a.name || '(no alertname)'}${a.state === 'firing' ? '' : ` (${a.state})`}`),
    ),
  ].sort();
  const shownNames = names.slice(0, 5).join(', ');
  const more = names.length > 5 ? ` and ${names.length - 5} more` : '';
  return `${alerts.length} alert(s) active on ${source}: ${shownNames}${more}`;
}

/**
 * Asks every configured source once and returns the verdict. Never throws: every failure is a
 * blocked verdict naming its cause.
 */
export async function evaluateAlerts(
  s: AlertSourceSettings,
  filter: AlertFilter,
  deps: { readonly get: HttpGet; readonly readFile: ReadFile; readonly now: () => Date },
): Promise<AlertVerdict> {
  const sources = [
    s.prometheusUrl === undefined
      ? undefined
      : {
          kind: 'Prometheus',
          unreachable: GateReason.PrometheusUnreachable,
          url: apiUrl(s.prometheusUrl, '/api/v1/alerts'),
          parse: parsePrometheusAlerts,
        },
    s.alertmanagerUrl === undefined
      ? undefined
      : {
          kind: 'Alertmanager',
          unreachable: GateReason.AlertmanagerUnreachable,
          // Ask for what blocks; the parser drops suppressed alerts again in case the filter is ignored.
          url: apiUrl(s.alertmanagerUrl, '/api/v2/alerts', '?active=true&silenced=false&inhibited=false'),
          parse: parseAlertmanagerAlerts,
        },
  ].filter((x) => x !== undefined);

  let opts: { headers: Record<string, string>; ca: string | undefined; timeoutMs: number };
  try {
    opts = { ...(await prometheusRequestOptions(s, deps.readFile)), timeoutMs: s.timeoutMs };
  } catch (err) {
    const first = sources[0];
    return {
      blocked: true,
      reason: first?.unreachable ?? GateReason.PrometheusUnreachable,
      detail: errorText(err),
      checkedAt: deps.now(),
    };
  }
  const results = await Promise.all(
    sources.map(async (src) => {
      try {
        const alerts = (await askSource(src.url, src.parse, opts, deps.get)).filter((a) =>
          alertCounts(a, filter),
        );
        return { src, alerts, error: undefined };
      } catch (err) {
        return { src, alerts: [], error: errorText(err) };
      }
    }),
  );
  const checkedAt = deps.now();
  // An error outranks a firing alert: it says the answer is missing, which is worse to ignore.
  const failed = results.find((r) => r.error !== undefined);
  if (failed?.error !== undefined) {
    return { blocked: true, reason: failed.src.unreachable, detail: failed.error, checkedAt };
  }
  const firing = results.filter((r) => r.alerts.length > 0);
  if (firing.length > 0) {
    return {
      blocked: true,
      reason: GateReason.AlertFiring,
      detail: firing.map((r) => describeAlerts(r.src.kind, r.alerts)).join('; '),
      checkedAt,
    };
  }
  return { blocked: false, checkedAt };
}

/**
 * Keeps the latest verdict, asking the sources every `periodMs` (one request at a time; the
 * next starts a period after the previous one ended). Until the first answer, and when the last
 * answer is too old (the loop stalled), the gate blocks.
 */
export class AlertGate {
  readonly #ask: () => Promise<AlertVerdict>;
  readonly #periodMs: number;
  readonly #maxAgeMs: number;
  readonly #firstReason: GateReason;
  readonly #onChange: (v: AlertVerdict) => void;
  #verdict: AlertVerdict | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #running: Promise<void> | undefined;

  constructor(opts: {
    ask: () => Promise<AlertVerdict>;
    periodMs: number;
    timeoutMs: number;
    /** The reason to report before the first answer (the first source's "unreachable"). */
    firstReason: GateReason;
    /** Called when the verdict changes (blocked or not, reason, detail). */
    onChange: (v: AlertVerdict) => void;
  }) {
    this.#ask = opts.ask;
    this.#periodMs = opts.periodMs;
    this.#maxAgeMs = 2 * opts.periodMs + 2 * opts.timeoutMs;
    this.#firstReason = opts.firstReason;
    this.#onChange = opts.onChange;
  }

  start(): void {
    this.#stopped = false;
    this.#tick();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  /** The verdict as of `now`: blocked while unknown or stale. */
  verdict(now: Date): AlertVerdict {
    const v = this.#verdict;
    if (v === undefined) {
      return { blocked: true, reason: this.#firstReason, detail: 'no answer yet', checkedAt: now };
    }
    const age = now.getTime() - v.checkedAt.getTime();
    if (age > this.#maxAgeMs) {
      return {
        blocked: true,
        reason: this.#firstReason,
        detail: `the last answer is ${Math.round(age / 1000)} s old`,
        checkedAt: v.checkedAt,
      };
    }
    return v;
  }

  #tick(): void {
    if (this.#stopped) return;
    const asked = this.#ask().catch(
      (err: unknown): AlertVerdict => ({
        blocked: true,
        reason: this.#firstReason,
        detail: `asking failed: ${errorText(err)}`,
        checkedAt: new Date(),
      }),
    );
    this.#running = asked.then((v) => {
      const before = this.#verdict;
      this.#verdict = v;
      if (before === undefined || !sameVerdict(before, v)) this.#onChange(v);
      if (!this.#stopped) this.#timer = setTimeout(() => this.#tick(), this.#periodMs);
    });
  }
}

function sameVerdict(a: AlertVerdict, b: AlertVerdict): boolean {
  if (!a.blocked || !b.blocked) return a.blocked === b.blocked;
  return a.reason === b.reason && a.detail === b.detail;
}

/** The alerts gate as the planner asks it: every node alike, from the one cached verdict. */
export function alertNodeGate(gate: Pick<AlertGate, 'verdict'>): NodeGate {
  return {
    blocks(_node, now) {
      const v = gate.verdict(now);
      return v.blocked ? { reason: v.reason, detail: v.detail } : undefined;
    },
  };
}
