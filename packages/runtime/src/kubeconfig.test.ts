import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpMethod, KubeConfig, RequestContext } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { KubeConnectionError, resolveContext } from './kube-connection.ts';
import { loadKubeConfig, reuseConnections } from './kubeconfig.ts';
import { writeBrokenKubeconfigs } from './test-support.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'baton-kubeconfig-'));
});
afterEach(async () => {
  vi.unstubAllEnvs();
  await rm(dir, { recursive: true, force: true });
});

function refusal(load: () => unknown): string {
  try {
    load();
  } catch (err) {
    expect(err).toBeInstanceOf(KubeConnectionError);
    return (err as Error).message;
  }
  throw new Error('expected a KubeConnectionError');
}

const GOOD = [
  'apiVersion: v1',
  'kind: Config',
  'current-context: x',
  'clusters: [{name: c, cluster: {server: "https://10.0.0.1:6443", certificate-authority: ca.pem}}]',
  'users: [{name: u, user: {token: t}}]',
  'contexts: [{name: x, context: {cluster: c, user: u}}]',
].join('\n');

describe('loadKubeConfig (the controller, through client-node)', () => {
  it('loads --kubeconfig, resolving relative paths against its directory', async () => {
    const path = join(dir, 'config');
    await writeFile(path, GOOD);
    const kc = loadKubeConfig(path);
    expect(kc.getCurrentCluster()?.server).toBe('https://10.0.0.1:6443');
    expect(kc.getCurrentCluster()?.caFile).toBe(join(dir, 'ca.pem'));
  });

  it('refuses a broken file in one line naming it, never with its content', async () => {
    for (const { what, path, problem } of await writeBrokenKubeconfigs(dir, { context: true })) {
      const message = refusal(() => loadKubeConfig(path));
      expect(message.startsWith(`kubeconfig ${path}: `), message).toBe(true);
      expect(message.slice(`kubeconfig ${path}: `.length), what).toMatch(problem);
      expect(message, what).not.toContain('\n');
      expect(message, what).not.toContain('hunter2');
    }
  });

  it("passes on client-node's own checks in one line", async () => {
    const path = join(dir, 'config');
    // The current context is fine; another cluster entry is not, and client-node says so.
    await writeFile(path, `${GOOD}\n`.replace('clusters: [', 'clusters: [{name: d, cluster: {}}, '));
    expect(refusal(() => loadKubeConfig(path))).toBe(
      `kubeconfig ${path}: clusters[0].cluster.server is missing`,
    );
  });

  it('names every file of KUBECONFIG it could not use, and says when there is none', async () => {
    const good = join(dir, 'good');
    await writeFile(good, GOOD);
    const bad = join(dir, 'bad');
    await writeFile(bad, '');
    vi.stubEnv('KUBERNETES_SERVICE_HOST', '');
    vi.stubEnv('KUBECONFIG', `${good}:${bad}`);
    expect(refusal(() => loadKubeConfig(undefined))).toBe(
      `kubeconfig ${bad}: the file is empty; expected a kubeconfig with clusters, users and contexts`,
    );
    vi.stubEnv('KUBECONFIG', good);
    expect(loadKubeConfig(undefined).getCurrentContext()).toBe('x');
    vi.stubEnv('KUBECONFIG', join(dir, 'none'));
    expect(refusal(() => loadKubeConfig(undefined))).toMatch(/^no Kubernetes configuration found/);
  });

  it('checks the current context of a configuration loaded otherwise', () => {
    const doc = parseYaml(GOOD) as Record<string, unknown>;
    expect(resolveContext(doc, 'here').server.href).toBe('https://10.0.0.1:6443/');
    expect(refusal(() => resolveContext({ ...doc, 'current-context': '' }, 'here'))).toBe(
      'here: current-context: is not set; set it with kubectl config use-context',
    );
  });

  it('merges KUBECONFIG files as kubectl does and takes a context to use instead of the current one', async () => {
    const other = join(dir, 'other');
    await writeFile(
      other,
      [
        'current-context: y',
        'clusters: [{name: c, cluster: {server: "https://10.9.9.9:6443"}}, {name: e, cluster: {server: "https://10.0.0.2:6443"}}]',
        'users: [{name: u, user: {token: t2}}]',
        'contexts: [{name: y, context: {cluster: e, user: u}}]',
      ].join('\n'),
    );
    const good = join(dir, 'good');
    await writeFile(good, GOOD);
    vi.stubEnv('KUBERNETES_SERVICE_HOST', '');
    vi.stubEnv('KUBECONFIG', `${good}:${other}`);
    const kc = loadKubeConfig(undefined);
    // The first file's current context and its cluster c win.
    expect(kc.getCurrentContext()).toBe('x');
    expect(kc.getCurrentCluster()?.server).toBe('https://10.0.0.1:6443');
    expect(loadKubeConfig({ context: 'y' }).getCurrentCluster()?.server).toBe('https://10.0.0.2:6443');
    expect(refusal(() => loadKubeConfig({ context: 'z' }))).toBe(
      `kubeconfig ${good}:${other}: contexts: has no entry named "z"`,
    );
  });
});

describe('reuseConnections', () => {
  const tlsConfig = (certData: string) => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [
        { name: 'c', server: 'https://127.0.0.1:6443', caData: Buffer.from('ca').toString('base64') },
      ],
      users: [
        {
          name: 'u',
          certData: Buffer.from(certData).toString('base64'),
          keyData: Buffer.from('key').toString('base64'),
        },
      ],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    return kc;
  };
  const dispatcherOf = async (kc: KubeConfig) => {
    const context = new RequestContext('https://127.0.0.1:6443/api/v1/nodes', HttpMethod.GET);
    await kc.applySecurityAuthentication(context);
    return context.getDispatcher();
  };

  it('gives every request the same connection pool while the TLS inputs are the same', async () => {
    const plain = tlsConfig('cert-1');
    // What client-node does on its own: a new pool (and TLS connection) per request.
    expect(await dispatcherOf(plain)).not.toBe(await dispatcherOf(plain));
    const kc = tlsConfig('cert-1');
    reuseConnections(kc);
    const first = await dispatcherOf(kc);
    expect(first).toBeDefined();
    expect(await dispatcherOf(kc)).toBe(first);
    expect(await dispatcherOf(kc)).toBe(first);
  });

  it('makes a new pool when a certificate changes (a rotated file), and closes the old one', async () => {
    const kc = tlsConfig('cert-1');
    reuseConnections(kc);
    const first = await dispatcherOf(kc);
    const user = kc.getCurrentUser() as { certData?: string };
    user.certData = Buffer.from('cert-2').toString('base64');
    const second = await dispatcherOf(kc);
    expect(second).toBeDefined();
    expect(second).not.toBe(first);
    expect((first as unknown as { closed: boolean }).closed).toBe(true);
    expect(await dispatcherOf(kc)).toBe(second);
  });

  it('is on the KubeConfig loadKubeConfig gives the controller and kubectl baton', async () => {
    const b64 = (t: string) => Buffer.from(t).toString('base64');
    const path = join(dir, 'tls.kubeconfig');
    await writeFile(
      path,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          {
            name: 'c',
            cluster: { server: 'https://127.0.0.1:6443', 'certificate-authority-data': b64('ca') },
          },
        ],
        users: [
          { name: 'u', user: { 'client-certificate-data': b64('cert'), 'client-key-data': b64('key') } },
        ],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'x',
      }),
    );
    const kc = loadKubeConfig(path);
    expect(await dispatcherOf(kc)).toBe(await dispatcherOf(kc));
  });
});
