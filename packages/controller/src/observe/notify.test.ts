import { Writable } from 'node:stream';
import { createLogger } from '@baton/runtime';
import { describe, expect, it } from 'vitest';
import {
  type NotificationBody,
  NotificationEvent,
  type NotificationSender,
  Notifier,
  notificationFormat,
  notificationText,
  redactUrl,
} from './notify.ts';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n'))
        if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { log: createLogger({ name: 'test', format: 'json', level: 'info', destination }), lines };
}

function setup(send: NotificationSender, urls = ['http://hooks.example/T0/secret'], maxQueue?: number) {
  const outcomes: string[] = [];
  const { log, lines } = capture();
  const n = new Notifier({
    urls,
    send,
    timeoutMs: 100,
    maxQueue,
    log,
    metrics: { result: (o) => outcomes.push(o) },
    now: () => new Date('2026-11-25T12:00:00Z'),
  });
  return { n, outcomes, lines };
}

const halted = {
  event: NotificationEvent.RolloutHalted,
  node: 'node-3',
  reason: 'node-3 was granted 1900 s ago and has not settled (node not Ready)',
};

describe('Notifier', () => {
  it('posts one JSON body per URL with the facts and a line for people', async () => {
    const got: { url: string; body: NotificationBody }[] = [];
    const s = setup(
      async (url, body) => void got.push({ url, body: JSON.parse(body) as NotificationBody }),
      ['http://a.example/x', 'http://b.example/y'],
    );
    s.n.notify(halted);
    await s.n.flush();
    expect(got.map((g) => g.url)).toEqual(['http://a.example/x', 'http://b.example/y']);
    expect(got[0]?.body).toEqual({
      source: 'baton-controller',
      time: '2026-11-25T12:00:00.000Z',
      text: 'baton: rollout HALTED at node-3: node-3 was granted 1900 s ago and has not settled (node not Ready)',
      ...halted,
    });
    expect(s.outcomes).toEqual(['sent', 'sent']);
  });

  it('never blocks the caller, keeps the order, and times a hanging webhook out', async () => {
    const order: string[] = [];
    const s = setup(
      (_url, body, signal) =>
        new Promise((resolve, reject) => {
          const b = JSON.parse(body) as NotificationBody;
          order.push(b.node);
          if (b.node === 'hang') signal.addEventListener('abort', () => reject(signal.reason));
          else resolve();
        }),
    );
    const started = Date.now();
    s.n.notify({ ...halted, node: 'hang' });
    s.n.notify({ ...halted, node: 'next' });
    expect(Date.now() - started).toBeLessThan(50); // returned before any send finished
    await s.n.flush();
    expect(order).toEqual(['hang', 'next']);
    expect(s.outcomes).toEqual(['failed', 'sent']);
    const warn = s.lines.find((l) => l.msg === 'notification failed');
    expect(warn?.err).toBe('no answer within 100 ms');
    // The secret part of a webhook URL never reaches the log.
    expect(warn?.url).toBe('http://hooks.example/…');
    expect(JSON.stringify(s.lines)).not.toContain('secret');
  });

  it('a failing webhook is logged and counted; later messages still go', async () => {
    let calls = 0;
    const s = setup(async () => {
      calls++;
      if (calls === 1) throw new Error('HTTP 500: boom');
    });
    s.n.notify(halted);
    s.n.notify(halted);
    await s.n.flush();
    expect(s.outcomes).toEqual(['failed', 'sent']);
    expect(s.lines.find((l) => l.msg === 'notification failed')?.err).toBe('HTTP 500: boom');
  });

  it('drops and counts what does not fit in the queue of a slow webhook', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const s = setup(() => gate, ['http://slow.example/'], 2);
    for (let i = 0; i < 5; i++) s.n.notify({ ...halted, node: `n${i}` });
    release();
    await s.n.flush();
    // The first is in flight at once, two wait, two are dropped.
    expect(s.outcomes.filter((o) => o === 'dropped')).toHaveLength(2);
    expect(s.outcomes.filter((o) => o === 'sent')).toHaveLength(3);
  });

  it('without URLs it does nothing', async () => {
    const s = setup(async () => {
      throw new Error('must not be called');
    }, []);
    s.n.notify(halted);
    await s.n.flush();
    expect(s.outcomes).toEqual([]);
  });
});

describe('webhook formats', () => {
  it.each([
    ['https://hooks.slack.com/services/T0/B0/secret', 'slack'],
    [
      'https://prod-12.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?sig=x',
      'teams',
    ],
    [
      'https://default1234.12.environment.api.powerplatform.com/powerautomate/automations/direct/workflows/x',
      'teams',
    ],
    ['https://hooks.example/x', 'json'],
    ['https://hooks.example/x#slack', 'slack'],
    ['https://hooks.slack.com/services/x#json', 'json'],
    ['https://chat.example/hook#Teams', 'teams'],
  ] as const)('%s → %s', (url, format) => {
    expect(notificationFormat(url)).toBe(format);
  });

  it('posts what each webhook shows: Slack a text, Teams an Adaptive Card with the facts', async () => {
    const got = new Map<string, unknown>();
    const s = setup(
      async (url, body) => void got.set(url, JSON.parse(body)),
      ['https://hooks.slack.com/services/T/B/x', 'https://x.example/hook#teams'],
    );
    s.n.notify({ ...halted, slot: 'baton-slot-0', durationSeconds: 1900 });
    await s.n.flush();
    expect(got.get('https://hooks.slack.com/services/T/B/x')).toEqual({
      text: 'baton: rollout HALTED at node-3: node-3 was granted 1900 s ago and has not settled (node not Ready)',
    });
    const teams = got.get('https://x.example/hook#teams') as {
      type: string;
      attachments: {
        contentType: string;
        content: { type: string; body: { type: string; facts?: unknown }[] };
      }[];
    };
    expect(teams.type).toBe('message');
    expect(teams.attachments[0]?.contentType).toBe('application/vnd.microsoft.card.adaptive');
    expect(teams.attachments[0]?.content.type).toBe('AdaptiveCard');
    expect(teams.attachments[0]?.content.body[1]?.facts).toEqual(
      expect.arrayContaining([
        { title: 'Node', value: 'node-3' },
        { title: 'Slot', value: 'baton-slot-0' },
        { title: 'Duration', value: '1900 s' },
      ]),
    );
  });
});

describe('notificationText', () => {
  it.each([
    {
      n: { event: NotificationEvent.RebootGranted, node: 'a', slot: 'baton-slot-1', reason: 'granted' },
      text: 'baton: reboot of a started (baton-slot-1 granted)',
    },
    {
      n: {
        event: NotificationEvent.RebootFinished,
        node: 'a',
        reason: 'rebooted and settled',
        durationSeconds: 95,
      },
      text: 'baton: reboot of a finished after 95 s: rebooted and settled',
    },
    {
      n: { event: NotificationEvent.RolloutResumed, node: 'a', reason: 'its slot was released' },
      text: 'baton: rollout resumed (a: its slot was released)',
    },
  ])('$text', ({ n, text }) => {
    expect(notificationText(n)).toBe(text);
  });

  it('redactUrl keeps only scheme and host', () => {
    expect(redactUrl('https://hooks.slack.com/services/T0/B0/XYZ')).toBe('https://hooks.slack.com/…');
  });
});
