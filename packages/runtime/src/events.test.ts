import type { EventsV1Event } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { nodeEventRecorder } from './events.ts';
import { createLogger } from './logger.ts';

const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

async function recorded(node: string, message: string) {
  const bodies: { namespace: string; body: EventsV1Event }[] = [];
  const log = createLogger({ name: 't', format: 'json', level: 'silent' });
  const recorder = nodeEventRecorder(
    { createNamespacedEvent: async (req) => void bodies.push(req) },
    { component: 'baton-agent', instance: node },
    log,
  );
  await recorder.record(node, 'Normal', 'Draining', message);
  return bodies;
}

describe('nodeEventRecorder', () => {
  it('writes an events.k8s.io/v1 Event regarding the Node, in default, with a valid unique name', async () => {
    const [a] = await recorded('node-a.example.com', 'evicting 3 pods');
    const [b] = await recorded('node-a.example.com', 'evicting 3 pods');
    expect(a?.namespace).toBe('default');
    const body = a?.body;
    expect(body).toMatchObject({
      apiVersion: 'events.k8s.io/v1',
      regarding: { kind: 'Node', name: 'node-a.example.com', uid: 'node-a.example.com' },
      type: 'Normal',
      reason: 'Draining',
      action: 'Draining',
      note: 'evicting 3 pods',
      reportingController: 'baton.dev/baton-agent',
      reportingInstance: 'node-a.example.com',
    });
    expect(body?.metadata?.name).toMatch(SUBDOMAIN);
    expect(body?.metadata?.name).not.toBe(b?.body.metadata?.name);
    expect(String(body?.eventTime)).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
  });

  it('keeps names within 253 characters and notes within 1 kB', async () => {
    const long = `${'n'.repeat(250)}`;
    const [e] = await recorded(long, 'x'.repeat(5000));
    expect(e?.body.metadata?.name?.length).toBeLessThanOrEqual(253);
    expect(e?.body.metadata?.name).toMatch(SUBDOMAIN);
    expect(e?.body.note?.length).toBe(1024);
  });

  it('never throws when the API refuses the Event', async () => {
    const log = createLogger({ name: 't', format: 'json', level: 'silent' });
    const recorder = nodeEventRecorder(
      {
        createNamespacedEvent: async () => {
          throw Object.assign(new Error('forbidden'), { code: 403, body: '{"reason":"Forbidden"}' });
        },
      },
      { component: 'baton-controller', instance: 'c1' },
      log,
    );
    await expect(recorder.record('n', 'Warning', 'RolloutHalted', 'x')).resolves.toBeUndefined();
  });
});
