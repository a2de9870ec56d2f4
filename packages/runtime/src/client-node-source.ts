/**
 * The informer's source over @kubernetes/client-node (the controller's client): the list is the
 * generated API call the caller passes (`() => core.listNode()`), the watch is client-node's
 * `Watch`. Watches behave as {@link KubeClient}'s: the server is asked to end each one after
 * `watchTimeoutSeconds` (the informer then watches again from the last version), bookmarks are
 * asked for, an in-stream ERROR event rejects with its Status code (410 → list again), and a
 * watch silent well past its timeout is a dead connection (rejects with ETIMEDOUT).
 */
import {
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  Watch,
} from '@kubernetes/client-node';
import type { ListWatchSource } from './informer.ts';
import { KubeApiError, type WatchEvent } from './kube-client.ts';

export interface ClientNodeSourceOptions {
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /** Watches are asked to end after this long (default 300 s); silence past it plus 30 s is a failure. */
  readonly watchTimeoutSeconds?: number;
}

/** One page of a list: the generated call with these fields (`(page) => core.listNode(page)`). */
export interface ListPage {
  readonly limit: number;
  readonly _continue?: string;
}

/** Objects per page: thousands of Nodes are listed without one response of many megabytes. */
export const LIST_PAGE_SIZE = 500;

export function clientNodeListWatchSource<T extends KubernetesObject>(
  kubeConfig: KubeConfig,
  path: string,
  list: (page: ListPage) => Promise<KubernetesListObject<T>>,
  opts: ClientNodeSourceOptions = {},
): ListWatchSource<T> {
  const watchTimeoutSeconds = opts.watchTimeoutSeconds ?? 300;
  const selectors = {
    ...(opts.labelSelector !== undefined ? { labelSelector: opts.labelSelector } : {}),
    ...(opts.fieldSelector !== undefined ? { fieldSelector: opts.fieldSelector } : {}),
  };
  const watcher = new Watch(kubeConfig);
  // client-node's inactivity timeout (30 s by default) would cut every quiet watch; the field is
  // private in its types but is the documented knob (`Watch.requestTimeoutMs`).
  (watcher as unknown as { requestTimeoutMs: number }).requestTimeoutMs = (watchTimeoutSeconds + 30) * 1000;
  return {
    async list() {
      const items: T[] = [];
      let token: string | undefined;
      let resourceVersion = '';
      do {
        const page: KubernetesListObject<T> = await list({
          limit: LIST_PAGE_SIZE,
          ...(token !== undefined ? { _continue: token } : {}),
        });
        items.push(...page.items);
        resourceVersion = page.metadata?.resourceVersion ?? '';
        token = page.metadata?._continue || undefined;
      } while (token !== undefined);
      return { items, resourceVersion };
    },
    watch: (resourceVersion, onEvent, signal) =>
      new Promise<void>((resolve, reject) => {
        if (signal.aborted) return resolve();
        const what = `WATCH ${path}`;
        let settled = false;
        let request: AbortController | undefined;
        const done = (err?: unknown) => {
          if (settled) return;
          settled = true;
          signal.removeEventListener('abort', onAbort);
          request?.abort();
          if (err === undefined || err === null || signal.aborted) resolve();
          else reject(err);
        };
        const onAbort = () => done();
        signal.addEventListener('abort', onAbort);
        watcher
          .watch(
            path,
            { ...selectors, resourceVersion, allowWatchBookmarks: true, timeoutSeconds: watchTimeoutSeconds },
            (type: string, object: unknown) => {
              if (settled) return;
              if (type === 'ERROR') {
                const status = object as { code?: unknown } | undefined;
                const code = typeof status?.code === 'number' ? status.code : 500;
                done(new KubeApiError(code, JSON.stringify(status ?? {}), {}, what));
                return;
              }
              onEvent({ type, object } as WatchEvent<T>);
            },
            (err: unknown) => {
              if ((err as { name?: unknown } | null)?.name === 'TimeoutError') {
                done(
                  Object.assign(new Error(`${what}: silent for ${watchTimeoutSeconds + 30} s`), {
                    code: 'ETIMEDOUT',
                  }),
                );
              } else done(err);
            },
          )
          .then(
            (c) => {
              request = c;
              if (settled) c.abort();
            },
            (err: unknown) => done(err),
          );
      }),
  };
}
