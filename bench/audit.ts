/**
 * Who sent which requests: the API server's audit log, one event per request as it arrives.
 *
 * `apiserver_request_total` counts by verb and resource only, so a tool's figure there is "the
 * cluster's total minus a baseline window", and anything else running in the window (the bench's
 * own helpers, the controller-manager's resyncs) lands in it. The audit log names the user of
 * each request: baton's agents and controller and kured each run under a ServiceAccount of their
 * own, so their requests are counted exactly, with no baseline to subtract.
 *
 * The policy logs every request at the Metadata level in the RequestReceived stage only: one line
 * per request, a watch counted when it is opened (not when it ends, as the metric does).
 */
import { createReadStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** The kube-apiserver flags that write the audit log to `dir/audit.log`, and its path. */
export async function auditLogArgs(dir: string): Promise<{ args: string[]; path: string }> {
  const policy = join(dir, 'audit-policy.yaml');
  const path = join(dir, 'audit.log');
  await writeFile(
    policy,
    [
      'apiVersion: audit.k8s.io/v1',
      'kind: Policy',
      'omitStages: [ResponseStarted, ResponseComplete, Panic]',
      'rules:',
      '  - level: Metadata',
      '',
    ].join('\n'),
  );
  return {
    args: [
      `--audit-policy-file=${policy}`,
      `--audit-log-path=${path}`,
      '--audit-log-format=json',
      // Written as requests arrive (the default batch mode buffers), never rotated mid-bench.
      '--audit-log-mode=blocking',
      '--audit-log-maxsize=0',
    ],
    path,
  };
}

/** One audit event, the fields counted here. */
export interface AuditEvent {
  readonly stage?: string;
  readonly verb?: string;
  readonly user?: { readonly username?: string };
  readonly objectRef?: { readonly resource?: string; readonly subresource?: string };
  readonly requestReceivedTimestamp?: string;
}

/** `verb resource[/subresource]`, as bench.json's other API figures name a kind of request. */
export function requestKind(e: AuditEvent): string {
  const resource = e.objectRef?.resource ?? '(none)';
  const sub = e.objectRef?.subresource;
  return `${(e.verb ?? '?').toUpperCase()} ${resource}${sub ? `/${sub}` : ''}`;
}

/** Requests by identity and kind: `{ agent: { 'PATCH nodes/status': 12 } }`. */
export type AuditCounts = Record<string, Record<string, number>>;

/**
 * Counts the requests received in [fromMs, toMs) whose user `identify` names (others are not
 * counted), by that name and by kind.
 */
export async function countAudit(
  path: string,
  fromMs: number,
  toMs: number,
  identify: (username: string) => string | undefined,
): Promise<AuditCounts> {
  const counts: AuditCounts = {};
  const lines = createInterface({
    input: createReadStream(path, 'utf8'),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  for await (const line of lines) {
    if (line === '') continue;
    const e = JSON.parse(line) as AuditEvent;
    if (e.stage !== 'RequestReceived') continue;
    const at = Date.parse(e.requestReceivedTimestamp ?? '');
    if (!(at >= fromMs && at < toMs)) continue;
    const who = identify(e.user?.username ?? '');
    if (who === undefined) continue;
    const byKind = counts[who] ?? {};
    counts[who] = byKind;
    const kind = requestKind(e);
    byKind[kind] = (byKind[kind] ?? 0) + 1;
  }
  return counts;
}

/** The ServiceAccount's name of a `system:serviceaccount:<namespace>:<name>` user. */
export function serviceAccountOf(username: string): string | undefined {
  const parts = username.split(':');
  return parts.length === 4 && parts[0] === 'system' && parts[1] === 'serviceaccount' ? parts[3] : undefined;
}

/**
 * A straight line through two fleet sizes: requests per hour = fixed + slope × nodes. `a` and `b`
 * are requests per hour at `na` and `nb` nodes.
 */
export function fixedAndSlope(
  na: number,
  a: number,
  nb: number,
  b: number,
): { fixed: number; slope: number } {
  if (na === nb) throw new Error(`two different fleet sizes are needed, got ${na} twice`);
  const slope = (b - a) / (nb - na);
  return { fixed: a - slope * na, slope };
}
