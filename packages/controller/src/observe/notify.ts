/**
 * Notifications to --notify-url webhooks: one JSON POST per event an operator needs to hear
 * about (a reboot granted, a reboot finished, the rollout halted or resumed).
 *
 * Sent by the leader only, and only after the write that makes the event true succeeded (the
 * compare-and-swap grant or release), so two replicas never both announce one event. Never on
 * the reconcile's path: `notify()` queues and returns; each URL has its own queue, sent in order
 * with a timeout per request. A failure is logged and counted, never retried into a storm and
 * never holds a reboot back; a full queue drops the newest message and counts it.
 *
 * The body carries `text` (one line for people; a Slack incoming webhook shows it as is) and the
 * same facts as fields for machines.
 */
import type { Logger } from '@baton/runtime';
import { Counter, type Registry } from 'prom-client';

export const NotificationEvent = {
  /** A slot now names the node: it will cordon, drain and reboot. */
  RebootGranted: 'RebootGranted',
  /** The node's slot was released (settled, held, aborted, deleted or no longer needed). */
  RebootFinished: 'RebootFinished',
  /** A granted node did not settle in time: no new grants until a person acts. */
  RolloutHalted: 'RolloutHalted',
  /** The halt cleared (the node settled late, or a person released its slot). */
  RolloutResumed: 'RolloutResumed',
} as const;
export type NotificationEvent = (typeof NotificationEvent)[keyof typeof NotificationEvent];

export interface Notification {
  readonly event: NotificationEvent;
  readonly node: string;
  readonly reason: string;
  readonly slot?: string | undefined;
  /** RebootFinished: how the slot ended (`Settled`, `Held`, `Aborted`, `NodeDeleted`, `NotNeeded`). */
  readonly outcome?: string | undefined;
  /** Seconds since the grant, when known. */
  readonly durationSeconds?: number | undefined;
}

/** The JSON body posted. */
export interface NotificationBody extends Notification {
  readonly source: 'baton-controller';
  readonly time: string;
  readonly text: string;
}

/** POSTs one body to one URL; rejects on a network error, a timeout or a non-2xx answer. */
export type NotificationSender = (url: string, body: string, signal: AbortSignal) => Promise<void>;

export const httpNotificationSender: NotificationSender = async (url, body, signal) => {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    signal,
  });
  // Drain the body so the connection can be reused; its text helps when the status is bad.
  const answer = await res.text().catch(() => '');
  if (!res.ok) throw new Error(`HTTP ${res.status}${answer ? `: ${answer.slice(0, 200)}` : ''}`);
};

export function notificationText(n: Notification): string {
  const took = n.durationSeconds === undefined ? '' : ` after ${n.durationSeconds} s`;
  switch (n.event) {
    case NotificationEvent.RebootGranted:
      return `baton: reboot of ${n.node} started (${n.slot ?? 'a slot'} granted)`;
    case NotificationEvent.RebootFinished:
      return `baton: reboot of ${n.node} finished${took}: ${n.reason}`;
    case NotificationEvent.RolloutHalted:
      return `baton: rollout HALTED at ${n.node}: ${n.reason}`;
    case NotificationEvent.RolloutResumed:
      return `baton: rollout resumed (${n.node}: ${n.reason})`;
  }
}

export interface NotifierMetrics {
  readonly result: (outcome: 'sent' | 'failed' | 'dropped') => void;
}

export function notifierMetrics(registry: Registry): NotifierMetrics {
  const c = new Counter({
    name: 'baton_notifications_total',
    help: 'Webhook notifications by outcome (sent, failed, dropped because the queue was full).',
    labelNames: ['outcome'],
    registers: [registry],
  });
  for (const o of ['sent', 'failed', 'dropped']) c.inc({ outcome: o }, 0);
  return { result: (outcome) => c.inc({ outcome }) };
}

export interface NotifierOptions {
  readonly urls: readonly string[];
  readonly send?: NotificationSender;
  readonly timeoutMs?: number;
  /** Messages waiting per URL before new ones are dropped (a dead webhook must not grow memory). */
  readonly maxQueue?: number;
  readonly log: Logger;
  readonly metrics?: NotifierMetrics;
  readonly now?: () => Date;
}

/**
 * The shape a webhook wants. Slack incoming webhooks (hooks.slack.com) take `{text}`; Microsoft
 * Teams Workflows webhooks (*.logic.azure.com, *.api.powerplatform.com) take an Adaptive Card;
 * anything else gets the generic JSON. A URL fragment `#slack`, `#teams` or `#json` overrides
 * the guess (fragments are never sent to the server).
 */
export type NotificationFormat = 'slack' | 'teams' | 'json';

export function notificationFormat(url: string): NotificationFormat {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'json';
  }
  const forced = u.hash.slice(1).toLowerCase();
  if (forced === 'slack' || forced === 'teams' || forced === 'json') return forced;
  const host = u.hostname.toLowerCase();
  if (host === 'hooks.slack.com') return 'slack';
  if (host.endsWith('.logic.azure.com') || host.endsWith('.api.powerplatform.com')) return 'teams';
  return 'json';
}

/** The body for one webhook format: the same facts, in the form that webhook shows. */
export function formatBody(body: NotificationBody, format: NotificationFormat): unknown {
  switch (format) {
    case 'json':
      return body;
    case 'slack':
      return { text: body.text };
    case 'teams': {
      const facts = [
        { title: 'Event', value: body.event },
        { title: 'Node', value: body.node },
        { title: 'Reason', value: body.reason },
        ...(body.slot !== undefined ? [{ title: 'Slot', value: body.slot }] : []),
        ...(body.outcome !== undefined ? [{ title: 'Outcome', value: body.outcome }] : []),
        ...(body.durationSeconds !== undefined
          ? [{ title: 'Duration', value: `${body.durationSeconds} s` }]
          : []),
        { title: 'Time', value: body.time },
      ];
      return {
        type: 'message',
        attachments: [
          {
            contentType: 'application/vnd.microsoft.card.adaptive',
            content: {
              $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
              type: 'AdaptiveCard',
              version: '1.4',
              body: [
                { type: 'TextBlock', text: body.text, wrap: true, weight: 'Bolder' },
                { type: 'FactSet', facts },
              ],
            },
          },
        ],
      };
    }
  }
}

/** Where a URL's messages go, without its secret parts (webhook URLs carry their token). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}/…`;
  } catch {
    return '(unparsable URL)';
  }
}

export class Notifier {
  readonly #o: NotifierOptions;
  readonly #queues = new Map<string, string[]>();
  readonly #running = new Map<string, Promise<void>>();

  constructor(opts: NotifierOptions) {
    this.#o = opts;
    for (const u of opts.urls) this.#queues.set(u, []);
  }

  /** Queues the notification for every URL and returns at once. */
  notify(n: Notification): void {
    if (this.#o.urls.length === 0) return;
    const body: NotificationBody = {
      source: 'baton-controller',
      time: (this.#o.now?.() ?? new Date()).toISOString(),
      text: notificationText(n),
      ...n,
    };
    for (const url of this.#o.urls) {
      const json = JSON.stringify(formatBody(body, notificationFormat(url)));
      const q = this.#queues.get(url) ?? [];
      if (q.length >= (this.#o.maxQueue ?? 100)) {
        this.#o.metrics?.result('dropped');
        this.#o.log.warn(
          { url: redactUrl(url), event: n.event, node: n.node },
          'notification dropped: queue full',
        );
        continue;
      }
      q.push(json);
      if (!this.#running.has(url)) {
        this.#running.set(
          url,
          this.#drain(url, q).finally(() => this.#running.delete(url)),
        );
      }
    }
  }

  /** Resolves once every queued notification was sent or failed (tests, shutdown). */
  async flush(): Promise<void> {
    while (this.#running.size > 0) await Promise.all(this.#running.values());
  }

  async #drain(url: string, q: string[]): Promise<void> {
    const send = this.#o.send ?? httpNotificationSender;
    for (let body = q.shift(); body !== undefined; body = q.shift()) {
      try {
        await send(url, body, AbortSignal.timeout(this.#o.timeoutMs ?? 5_000));
        this.#o.metrics?.result('sent');
      } catch (err) {
        this.#o.metrics?.result('failed');
        const why =
          err instanceof Error && err.name === 'TimeoutError'
            ? `no answer within ${this.#o.timeoutMs ?? 5_000} ms`
            : err instanceof Error
              ? err.message
              : String(err);
        this.#o.log.warn({ url: redactUrl(url), err: why }, 'notification failed');
      }
    }
  }
}
