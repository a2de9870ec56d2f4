import { chmod, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  checkServerUrl,
  describeFileError,
  KubeConnectionError,
  loadKubeConnection,
  parseKubeconfig,
} from './kube-connection.ts';
import { writeBrokenKubeconfigs } from './test-support.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'baton-kubeconn-'));
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

const b64 = (s: string) => Buffer.from(s).toString('base64');

function kubeconfig(user: Record<string, unknown>, cluster: Record<string, unknown> = {}) {
  return {
    'current-context': 'ctx',
    contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'u' } }],
    clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:6443', ...cluster } }],
    users: [{ name: 'u', user }],
  };
}

describe('parseKubeconfig', () => {
  it('reads a token user with inline CA data', () => {
    const conn = parseKubeconfig(
      kubeconfig({ token: 'abc' }, { 'certificate-authority-data': b64('CA PEM') }),
      '/x/config',
    );
    expect(conn.server.href).toBe('https://127.0.0.1:6443/');
    expect(conn.token()).toBe('abc');
    expect(conn.ca?.toString()).toBe('CA PEM');
    expect(conn.cert).toBeUndefined();
    expect(conn.insecureSkipTlsVerify).toBe(false);
    expect(conn.description).toBe('kubeconfig /x/config, context ctx');
  });

  it('reads a client certificate from files relative to the kubeconfig', async () => {
    await writeFile(join(dir, 'crt.pem'), 'CERT');
    await writeFile(join(dir, 'key.pem'), 'KEY');
    await writeFile(join(dir, 'ca.pem'), 'CA');
    const conn = parseKubeconfig(
      kubeconfig(
        { 'client-certificate': 'crt.pem', 'client-key': join(dir, 'key.pem') },
        { 'certificate-authority': 'ca.pem', 'tls-server-name': 'kubernetes' },
      ),
      join(dir, 'config'),
    );
    expect(conn.cert?.toString()).toBe('CERT');
    expect(conn.key?.toString()).toBe('KEY');
    expect(conn.ca?.toString()).toBe('CA');
    expect(conn.tlsServerName).toBe('kubernetes');
    expect(conn.token()).toBeUndefined();
  });

  it('reads a token file again when it changes (the kubelet rotates projected tokens)', async () => {
    const file = join(dir, 'token');
    await writeFile(file, 'first\n');
    const conn = parseKubeconfig(kubeconfig({ tokenFile: 'token' }), join(dir, 'config'));
    expect(conn.token()).toBe('first');
    await writeFile(file, 'second\n');
    // Within the re-read interval the cached token is used.
    expect(conn.token()).toBe('first');
  });

  it.each([
    [{}, 'current-context: is not set'],
    ['just text', '(document)'],
    [{ ...kubeconfig({}), 'current-context': '' }, 'current-context: is not set'],
    [{ ...kubeconfig({}), 'current-context': 'other' }, 'contexts: has no entry named "other"'],
    [{ ...kubeconfig({}), clusters: [] }, 'clusters: has no entry named "c"'],
    [kubeconfig({}, { server: 'not a url' }), 'clusters[c].cluster.server: "not a url" is not a URL'],
    [kubeconfig({}, { server: 'ftp://x' }), 'clusters[c].cluster.server: expected an https:// URL, not ftp:'],
    [
      kubeconfig({}, { 'proxy-url': 'http://proxy' }),
      'clusters[c].cluster.proxy-url: proxies are not supported',
    ],
    [
      kubeconfig({}, { 'insecure-skip-tls-verify': 'yes' }),
      'insecure-skip-tls-verify: expected true or false',
    ],
    [
      kubeconfig({}, { 'certificate-authority-data': '%%%' }),
      'certificate-authority-data: expected base64 data',
    ],
    [kubeconfig({ exec: { command: 'aws' } }), 'users[u].user.exec: not supported by baton'],
    [
      kubeconfig({ 'auth-provider': { name: 'oidc' } }),
      'users[u].user.auth-provider: not supported by baton',
    ],
    [kubeconfig({ username: 'admin', password: 'x' }), 'users[u].user.username: not supported by baton'],
    [
      kubeconfig({ 'client-certificate-data': b64('C') }),
      'needs both client-certificate(-data) and client-key(-data)',
    ],
    [
      kubeconfig({ tokenFile: '/nonexistent/token' }),
      'users[u].user.tokenFile: /nonexistent/token does not exist',
    ],
    [
      kubeconfig({ 'client-key': '/nonexistent/key', 'client-certificate-data': b64('C') }),
      'client-key: cannot read',
    ],
  ] as const)('%#: refuses %j naming the field (%s)', (doc, message) => {
    expect(() => parseKubeconfig(doc, '/k/config')).toThrow(KubeConnectionError);
    expect(() => parseKubeconfig(doc, '/k/config')).toThrow(message);
    expect(() => parseKubeconfig(doc, '/k/config')).toThrow(/^kubeconfig \/k\/config: /);
  });
});

describe('loadKubeConnection', () => {
  it('prefers --kubeconfig, parsing its YAML', async () => {
    const path = join(dir, 'config');
    await writeFile(
      path,
      [
        'apiVersion: v1',
        'kind: Config',
        'current-context: ctx',
        'contexts: [{name: ctx, context: {cluster: c, user: u}}]',
        'clusters: [{name: c, cluster: {server: "https://10.0.0.1:443", insecure-skip-tls-verify: true}}]',
        'users: [{name: u, user: {token: t0}}]',
      ].join('\n'),
    );
    const conn = await loadKubeConnection(path, { env: { KUBERNETES_SERVICE_HOST: '10.0.0.9' } });
    expect(conn.server.href).toBe('https://10.0.0.1/');
    expect(conn.insecureSkipTlsVerify).toBe(true);
    expect(conn.token()).toBe('t0');
  });

  it('uses the pod ServiceAccount in a cluster, IPv6 host included', async () => {
    await writeFile(join(dir, 'token'), 'sa-token\n');
    await writeFile(join(dir, 'ca.crt'), 'CLUSTER CA');
    const conn = await loadKubeConnection(undefined, {
      env: { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '6443' },
      serviceAccountDir: dir,
    });
    expect(conn.server.href).toBe('https://[fd00::1]:6443/');
    expect(conn.token()).toBe('sa-token');
    expect(conn.ca?.toString()).toBe('CLUSTER CA');
    expect(conn.description).toBe('in-cluster (ServiceAccount)');
  });

  it('falls back to the first existing KUBECONFIG file, and never to localhost:8080', async () => {
    const path = join(dir, 'second');
    await writeFile(path, JSON.stringify(kubeconfig({ token: 'from-env' })));
    const conn = await loadKubeConnection(undefined, {
      env: { KUBECONFIG: `${join(dir, 'missing')}:${path}` },
      serviceAccountDir: join(dir, 'no-sa'),
    });
    expect(conn.token()).toBe('from-env');
    await expect(
      loadKubeConnection(undefined, { env: {}, serviceAccountDir: join(dir, 'no-sa'), home: dir }),
    ).rejects.toThrow('no Kubernetes configuration found');
  });

  it('says which file is unreadable or not YAML, in one line without its content', async () => {
    for (const { what, path, problem } of await writeBrokenKubeconfigs(dir, { context: true })) {
      const error = await loadKubeConnection(path).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error, what).toBeInstanceOf(KubeConnectionError);
      const message = (error as Error).message;
      expect(message.startsWith(`kubeconfig ${path}: `), message).toBe(true);
      expect(message.slice(`kubeconfig ${path}: `.length), what).toMatch(problem);
      expect(message, what).not.toContain('\n');
      expect(message, what).not.toContain('hunter2');
    }
  });

  it('says which service account file it cannot read', async () => {
    await writeFile(join(dir, 'token'), 'sa-token\n');
    await expect(
      loadKubeConnection(undefined, { env: { KUBERNETES_SERVICE_HOST: '10.0.0.9' }, serviceAccountDir: dir }),
    ).rejects.toThrow(`service account CA ${join(dir, 'ca.crt')}: no such file`);
  });
});

describe('describeFileError', () => {
  it.each([
    ['ENOENT', 'no such file'],
    ['EISDIR', 'is a directory, not a file'],
    ['EACCES', 'permission denied (the file cannot be read by this user)'],
    ['EPERM', 'permission denied (the file cannot be read by this user)'],
    ['ENOTDIR', 'a part of the path is not a directory'],
    ['EIO', 'cannot be read (EIO)'],
  ])('%s: %s', (code, words) => {
    expect(describeFileError(Object.assign(new Error(`${code}: x`), { code }))).toBe(words);
  });

  it('names an unreadable file (as a user other than root)', async () => {
    const path = join(dir, 'secret');
    await writeFile(path, 'current-context: x\n');
    await chmod(path, 0o000);
    const root = process.getuid?.() === 0;
    await expect(loadKubeConnection(path)).rejects.toThrow(
      root ? /current-context|contexts/ : `kubeconfig ${path}: permission denied`,
    );
  });
});

describe('checkServerUrl', () => {
  it.each([
    ['https://10.0.0.1:6443', 'https://10.0.0.1:6443/'],
    ['http://localhost:8080/prefix', 'http://localhost:8080/prefix'],
  ])('accepts %s', (text, href) => {
    expect(checkServerUrl(text, 'server', 'kubeconfig /k').href).toBe(href);
  });

  it.each([
    [undefined, 'kubeconfig /k: server: expected an https:// URL'],
    ['not a url', 'kubeconfig /k: server: "not a url" is not a URL'],
    ['admin:hunter2@x:1:2', 'kubeconfig /k: server: "(redacted)@x:1:2" does not start with https://'],
    ['ftp://x', 'kubeconfig /k: server: expected an https:// URL, not ftp:'],
    [
      'https://admin:hunter2@10.0.0.1',
      'kubeconfig /k: server: "https://(redacted)@10.0.0.1" has credentials in it; they are not sent from there: give them in the user entry (a token or a client certificate)',
    ],
    [
      'https://10.0.0.1/?token=hunter2',
      'kubeconfig /k: server: "https://10.0.0.1/?…" has a query string; expected none',
    ],
  ])('refuses %j', (text, message) => {
    expect(() => checkServerUrl(text, 'server', 'kubeconfig /k')).toThrow(new KubeConnectionError(message));
  });
});

describe('token files', () => {
  it('are re-read after the interval when their content changed', async () => {
    const file = join(dir, 'token');
    await writeFile(file, 'one');
    await writeFile(join(dir, 'ca.crt'), 'CA');
    const conn = await loadKubeConnection(undefined, {
      env: { KUBERNETES_SERVICE_HOST: '10.0.0.1' },
      serviceAccountDir: dir,
    });
    expect(conn.token()).toBe('one');
    await writeFile(file, 'two');
    const later = new Date(Date.now() + 5_000);
    await utimes(file, later, later);
    expect(conn.token()).toBe('one'); // cached within the minute
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(Date.now() + 61_000);
      expect(conn.token()).toBe('two');
    } finally {
      vi.useRealTimers();
    }
  });
});
