import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig, type KubernetesListObject, type V1ConfigMap } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientNodeListWatchSource } from './client-node-source.ts';
import { normalizeKubeError } from './kube-errors.ts';

describe('clientNodeListWatchSource against a loopback API server', () => {
  let server: Server;
  let kc: KubeConfig;
  const seen: string[] = [];
  /** What the next watch request gets. */
  let next: (res: ServerResponse) => void = () => {};

  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'application/json' });
      next(res);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: 'u' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const line = (o: unknown) => `${JSON.stringify(o)}\n`;
  const source = () =>
    clientNodeListWatchSource<V1ConfigMap>(
      kc,
      '/api/v1/configmaps',
      async () => ({ items: [], metadata: { resourceVersion: '7' } }) as KubernetesListObject<V1ConfigMap>,
      { labelSelector: 'app=x' },
    );

  it('lists through the given call and takes the list resourceVersion', async () => {
    expect(await source().list()).toEqual({ items: [], resourceVersion: '7' });
  });

  it('lists page by page, following continue tokens, and keeps the last page’s resourceVersion', async () => {
    const asked: { limit: number; _continue?: string }[] = [];
    const pages: Record<string, KubernetesListObject<V1ConfigMap>> = {
      '': { items: [{ metadata: { name: 'a' } }], metadata: { _continue: 't1', resourceVersion: '10' } },
      t1: { items: [{ metadata: { name: 'b' } }], metadata: { _continue: 't2', resourceVersion: '10' } },
      t2: { items: [{ metadata: { name: 'c' } }], metadata: { resourceVersion: '10' } },
    };
    const paged = clientNodeListWatchSource<V1ConfigMap>(kc, '/api/v1/configmaps', async (page) => {
      asked.push(page);
      const p = pages[page._continue ?? ''];
      if (!p) throw new Error(`no page ${page._continue}`);
      return p;
    });
    const listed = await paged.list();
    expect(listed.items.map((i) => i.metadata?.name)).toEqual(['a', 'b', 'c']);
    expect(listed.resourceVersion).toBe('10');
    expect(asked).toEqual([{ limit: 500 }, { limit: 500, _continue: 't1' }, { limit: 500, _continue: 't2' }]);
  });

  it('watches from the version with the selectors, bookmarks and a server timeout, and resolves when the server ends it', async () => {
    next = (res) => {
      res.write(line({ type: 'ADDED', object: { metadata: { name: 'a', resourceVersion: '8' } } }));
      res.end(line({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '9' } } }));
    };
    const events: string[] = [];
    await source().watch(
      '7',
      (e) => events.push(`${e.type} ${e.object.metadata?.resourceVersion}`),
      new AbortController().signal,
    );
    expect(events).toEqual(['ADDED 8', 'BOOKMARK 9']);
    const url = new URL(`http://x${seen.at(-1)}`);
    expect(Object.fromEntries(url.searchParams)).toEqual({
      watch: 'true',
      labelSelector: 'app=x',
      resourceVersion: '7',
      allowWatchBookmarks: 'true',
      timeoutSeconds: '300',
    });
  });

  it('rejects with the Status code of an ERROR event (410: list again)', async () => {
    next = (res) =>
      res.write(line({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired' } }));
    const err = await source()
      .watch('7', () => {}, new AbortController().signal)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(normalizeKubeError(err).code).toBe(410);
  });

  it('resolves when stopped while the watch is open', async () => {
    next = (res) =>
      res.write(line({ type: 'ADDED', object: { metadata: { name: 'a', resourceVersion: '8' } } }));
    const stop = new AbortController();
    const events: string[] = [];
    const watching = source().watch('7', (e) => events.push(e.type), stop.signal);
    await expect.poll(() => events).toEqual(['ADDED']);
    stop.abort();
    await expect(watching).resolves.toBeUndefined();
  });
});
