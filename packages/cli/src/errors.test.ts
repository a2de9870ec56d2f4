import { describe, expect, it } from 'vitest';
import { CliError, describeAction, ExitCode, kubeFailure } from './errors.ts';

/** What client-node throws for an HTTP error: code and the Status body as JSON text. */
const apiError = (code: number, reason: string, message: string) =>
  Object.assign(new Error(`HTTP-Code: ${code}`), {
    code,
    body: JSON.stringify({ kind: 'Status', reason, message }),
  });

const server = 'https://127.0.0.1:6443';

describe('kubeFailure', () => {
  it('names the verb and resource of a 403 and where the permission must come from', () => {
    const err = kubeFailure(
      apiError(
        403,
        'Forbidden',
        'nodes is forbidden: User "system:serviceaccount:t:nobody" cannot list resource "nodes"',
      ),
      { verb: 'list', resource: 'nodes' },
      server,
    );
    expect(err.exitCode).toBe(ExitCode.Forbidden);
    expect(err.message).toMatch(
      /^no rights: you may not list nodes \(needed to list nodes\); ask for a ClusterRole/,
    );
    expect(err.message).toMatch(
      /The API server said: nodes is forbidden: User "system:serviceaccount:t:nobody"/,
    );
    const lease = kubeFailure(
      apiError(403, 'Forbidden', 'no'),
      { verb: 'update', resource: 'leases.coordination.k8s.io', name: 'baton-slot-0', namespace: 'baton' },
      server,
    );
    expect(lease.message).toMatch(
      /^no rights: you may not update leases.coordination.k8s.io in namespace baton \(needed to update leases.coordination.k8s.io "baton-slot-0" in namespace baton\); ask for a Role in namespace baton/,
    );
  });

  it.each([
    [
      apiError(401, 'Unauthorized', 'Unauthorized'),
      ExitCode.Forbidden,
      /^not authenticated: the API server at https:\/\/127.0.0.1:6443 refused/,
    ],
    [
      apiError(404, 'NotFound', 'nodes "x" not found'),
      ExitCode.NotFound,
      /^not found: get nodes "x": nodes "x" not found/,
    ],
    [
      apiError(409, 'Conflict', 'modified'),
      ExitCode.Refused,
      /^someone else changed it meanwhile \(409 Conflict\)/,
    ],
    [
      apiError(500, 'InternalError', 'boom'),
      ExitCode.Failed,
      /^could not get nodes "x": 500 InternalError: boom/,
    ],
    [
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
      ExitCode.NoCluster,
      /^cannot reach the API server at https:\/\/127.0.0.1:6443 \(connect ECONNREFUSED 127.0.0.1:1\)/,
    ],
  ])('%s → exit %i', (thrown, code, message) => {
    const err = kubeFailure(thrown, { verb: 'get', resource: 'nodes', name: 'x' }, server);
    expect(err.exitCode).toBe(code);
    expect(err.message).toMatch(message);
  });

  it('shows the cause fetch hides behind "fetch failed"', () => {
    const refused = new TypeError('fetch failed', {
      cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:7'), { code: 'ECONNREFUSED' }),
    });
    expect(kubeFailure(refused, { verb: 'list', resource: 'nodes' }, server).message).toBe(
      `cannot reach the API server at ${server} (fetch failed: connect ECONNREFUSED 127.0.0.1:7); check the kubeconfig's server and your network`,
    );
    const badPort = new TypeError('fetch failed', { cause: new Error('bad port') });
    expect(kubeFailure(badPort, { verb: 'list', resource: 'nodes' }, server).message).toMatch(
      /\(fetch failed: bad port\)/,
    );
  });

  it('passes a CliError through unchanged', () => {
    const original = new CliError(ExitCode.NotFound, 'unknown node "x"');
    expect(kubeFailure(original, { verb: 'get', resource: 'nodes' }, server)).toBe(original);
  });

  it('describes an action the way RBAC names it', () => {
    expect(describeAction({ verb: 'list', resource: 'nodes' })).toBe('list nodes');
    expect(
      describeAction({
        verb: 'delete',
        resource: 'leases.coordination.k8s.io',
        name: 'baton-pause',
        namespace: 'ops',
      }),
    ).toBe('delete leases.coordination.k8s.io "baton-pause" in namespace ops');
  });
});
