import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { auditLogArgs, countAudit, fixedAndSlope, requestKind, serviceAccountOf } from './audit.ts';

const dir = await mkdtemp(join(tmpdir(), 'audit-test-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

const event = (stage: string, user: string, verb: string, resource: string, at: string, sub?: string) =>
  JSON.stringify({
    stage,
    verb,
    user: { username: user },
    objectRef: { resource, ...(sub ? { subresource: sub } : {}) },
    requestReceivedTimestamp: at,
  });

describe('the audit log count', () => {
  it('counts RequestReceived events in the window by identity and kind, and nothing else', async () => {
    const agent = 'system:serviceaccount:bench-1:baton-agent';
    const path = join(dir, 'audit.log');
    await writeFile(
      path,
      [
        event('RequestReceived', agent, 'patch', 'nodes', '2026-12-07T10:00:01.000000Z', 'status'),
        // The same request's later stage: not a second request.
        event('ResponseComplete', agent, 'patch', 'nodes', '2026-12-07T10:00:01.000000Z', 'status'),
        event('RequestReceived', agent, 'watch', 'leases', '2026-12-07T10:00:02.500000Z'),
        // Before and at the window's end: left out.
        event('RequestReceived', agent, 'patch', 'nodes', '2026-12-07T09:59:59.999000Z', 'status'),
        event('RequestReceived', agent, 'patch', 'nodes', '2026-12-07T10:00:10.000000Z', 'status'),
        event('RequestReceived', 'system:kube-scheduler', 'watch', 'pods', '2026-12-07T10:00:03.000000Z'),
        event(
          'RequestReceived',
          'system:serviceaccount:kube-system:kured',
          'get',
          'daemonsets',
          '2026-12-07T10:00:04Z',
        ),
        '',
      ].join('\n'),
    );
    const counts = await countAudit(
      path,
      Date.parse('2026-12-07T10:00:00Z'),
      Date.parse('2026-12-07T10:00:10Z'),
      serviceAccountOf,
    );
    expect(counts).toEqual({
      'baton-agent': { 'PATCH nodes/status': 1, 'WATCH leases': 1 },
      kured: { 'GET daemonsets': 1 },
    });
  });

  it('names kinds and ServiceAccounts as the report does', () => {
    expect(requestKind({ verb: 'list', objectRef: { resource: 'pods' } })).toBe('LIST pods');
    expect(requestKind({ verb: 'get' })).toBe('GET (none)');
    expect(serviceAccountOf('system:serviceaccount:ns:baton-controller')).toBe('baton-controller');
    expect(serviceAccountOf('system:node:n1')).toBeUndefined();
    expect(serviceAccountOf('admin')).toBeUndefined();
  });

  it('writes a policy of one Metadata event per request, at arrival', async () => {
    const { args, path } = await auditLogArgs(dir);
    expect(args).toContain(`--audit-log-path=${path}`);
    const policy = await readFile(join(dir, 'audit-policy.yaml'), 'utf8');
    expect(policy).toContain('omitStages: [ResponseStarted, ResponseComplete, Panic]');
    expect(policy).toContain('level: Metadata');
  });
});

describe('fixed cost and slope', () => {
  it('splits two fleet sizes into a fixed part and a per-node part', () => {
    // 3,600 a hour for leader election plus 14 per node.
    expect(fixedAndSlope(25, 3600 + 25 * 14, 100, 3600 + 100 * 14)).toEqual({ fixed: 3600, slope: 14 });
    expect(() => fixedAndSlope(50, 1, 50, 2)).toThrow(/two different fleet sizes/);
  });
});
