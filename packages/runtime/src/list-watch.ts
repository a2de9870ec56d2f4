/**
 * A supervised informer over {@link KubeClient}: list, then watch from the list's
 * resourceVersion, re-watch when the server ends a watch, re-list on 410 Gone, and on any other
 * failure mark the cache unsynced and retry with jittered exponential backoff. Same interface as
 * the client-node based {@link superviseInformer}; this one is the agent's (no client-node).
 *
 * The loop is written against {@link ListWatchSource} so its decisions are unit-tested with a
 * scripted source; {@link kubeListWatchSource} is the real one.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { InformerEvent, SupervisedInformer } from './informer.ts';
import type { KubeClient, WatchEvent } from './kube-client.ts';
import { describeKubeError, normalizeKubeError } from './kube-errors.ts';

export interface ListResult<T> {
  readonly items: readonly T[];
  readonly resourceVersion: string;
}

export interface ListWatchSource<T> {
  list(): Promise<ListResult<T>>;
  /** Resolves when the server ends the watch; rejects on failure (410 → re-list). */
  watch(resourceVersion: string, onEvent: (event: WatchEvent<T>) => void, signal: AbortSignal): Promise<void>;
}

export interface ListWatchLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface ListWatchOptions<T> {
  readonly name: string;
  readonly source: ListWatchSource<T>;
  readonly log: ListWatchLog;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** A watch that ends sooner than this without an event counts as a failure (no hot loop). */
  readonly minWatchMs?: number;
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly now?: () => number;
  readonly random?: () => number;
}

const abortableSleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });

const keyOf = (o: KubernetesObject) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

export function superviseListWatch<T extends KubernetesObject>(
  opts: ListWatchOptions<T>,
): SupervisedInformer<T> {
  const initialBackoff = opts.initialBackoffMs ?? 500;
  const maxBackoff = opts.maxBackoffMs ?? 30_000;
  const minWatchMs = opts.minWatchMs ?? 1_000;
  const sleep = opts.sleep ?? abortableSleep;
  const now = opts.now ?? Date.now;
  const random = opts.random ?? Math.random;
  const cache = new Map<string, T>();
  const handlers: ((event: InformerEvent | 'resync', obj: T | undefined) => void)[] = [];
  let controller: AbortController | undefined;
  let loop: Promise<void> | undefined;
  let inSync = false;
  let restartCount = 0;
  let lastError: string | undefined;
  let firstSync: (() => void) | undefined;

  const emit = (event: InformerEvent | 'resync', obj: T | undefined) => {
    for (const h of handlers) {
      try {
        h(event, obj);
      } catch (err) {
        opts.log.error({ informer: opts.name, err: String(err) }, 'informer handler threw');
      }
    }
  };

  const replace = (items: readonly T[]) => {
    const seen = new Set<string>();
    for (const item of items) {
      const key = keyOf(item);
      seen.add(key);
      const before = cache.get(key);
      cache.set(key, item);
      if (before === undefined) emit('add', item);
      else if (before.metadata?.resourceVersion !== item.metadata?.resourceVersion) emit('update', item);
    }
    for (const [key, item] of [...cache]) {
      if (seen.has(key)) continue;
      cache.delete(key);
      emit('delete', item);
    }
  };

  const apply = (event: WatchEvent<T>): string | undefined => {
    const obj = event.object;
    const rv = obj.metadata?.resourceVersion;
    switch (event.type) {
      case 'ADDED':
      case 'MODIFIED': {
        const existed = cache.has(keyOf(obj));
        cache.set(keyOf(obj), obj);
        emit(existed ? 'update' : 'add', obj);
        return rv;
      }
      case 'DELETED':
        cache.delete(keyOf(obj));
        emit('delete', obj);
        return rv;
      case 'BOOKMARK':
        return rv;
      default:
        return undefined;
    }
  };

  const run = async (signal: AbortSignal) => {
    let backoff = initialBackoff;
    const fail = async (err: unknown, what: string) => {
      inSync = false;
      restartCount++;
      lastError = describeKubeError(err);
      const delay = Math.round(backoff * (0.8 + random() * 0.4));
      backoff = Math.min(backoff * 2, maxBackoff);
      opts.log.warn(
        { informer: opts.name, err: describeKubeError(err), retryInMs: delay },
        `${what}; retrying`,
      );
      await sleep(delay, signal);
    };
    while (!signal.aborted) {
      let listed: ListResult<T>;
      try {
        listed = await opts.source.list();
      } catch (err) {
        if (!signal.aborted) await fail(err, 'list failed');
        continue;
      }
      if (signal.aborted) return;
      replace(listed.items);
      inSync = true;
      lastError = undefined;
      emit('resync', undefined);
      firstSync?.();
      let rv = listed.resourceVersion;
      // Watch until the watch fails; the server ending a watch normally just starts the next one.
      for (;;) {
        const started = now();
        let events = 0;
        try {
          await opts.source.watch(
            rv,
            (event) => {
              events++;
              rv = apply(event) ?? rv;
            },
            signal,
          );
        } catch (err) {
          if (signal.aborted) return;
          // A watch that worked for a while before failing starts the backoff over; one that
          // fails at once keeps growing it (a list that works and a watch that does not must
          // not become a tight loop).
          if (events > 0 || now() - started >= minWatchMs) backoff = initialBackoff;
          if (normalizeKubeError(err).code === 410) {
            // The resourceVersion is too old (compaction): the cache may have missed deletes.
            opts.log.info({ informer: opts.name }, 'watch expired (410); listing again');
            inSync = false;
          } else await fail(err, 'watch failed');
          break;
        }
        if (signal.aborted) return;
        if (events === 0 && now() - started < minWatchMs) {
          await fail(new Error('the watch ended at once without an event'), 'watch ended early');
          break;
        }
        backoff = initialBackoff;
      }
    }
  };

  return {
    async start() {
      if (loop !== undefined) return;
      controller = new AbortController();
      const synced = new Promise<void>((resolve) => (firstSync = resolve));
      loop = run(controller.signal).catch((err: unknown) =>
        opts.log.error({ informer: opts.name, err: String(err) }, 'informer loop ended unexpectedly'),
      );
      await Promise.race([synced, loop]);
    },
    async stop() {
      controller?.abort();
      firstSync?.();
      await loop;
      loop = undefined;
      inSync = false;
    },
    synced: () => inSync && controller?.signal.aborted === false,
    list: () => [...cache.values()],
    get: (name, namespace) => cache.get(`${namespace ?? ''}/${name}`),
    onChange: (handler) => void handlers.push(handler),
    restarts: () => restartCount,
    lastError: () => (inSync ? undefined : lastError),
  };
}

/** The real source: a collection path and optional selectors, listed in pages. */
export function kubeListWatchSource<T extends KubernetesObject>(
  client: KubeClient,
  path: string,
  selectors: { readonly fieldSelector?: string; readonly labelSelector?: string } = {},
): ListWatchSource<T> {
  return {
    async list() {
      const items: T[] = [];
      let token: string | undefined;
      let resourceVersion = '';
      do {
        const page: { items?: T[]; metadata?: { resourceVersion?: string; continue?: string } } =
          await client.request({
            method: 'GET',
            path,
            query: { ...selectors, limit: 500, ...(token !== undefined ? { continue: token } : {}) },
          });
        items.push(...(page.items ?? []));
        resourceVersion = page.metadata?.resourceVersion ?? '';
        token = page.metadata?.continue || undefined;
      } while (token !== undefined);
      return { items, resourceVersion };
    },
    watch: (resourceVersion, onEvent, signal) =>
      client.watch<T>(path, { ...selectors, resourceVersion }, onEvent, signal),
  };
}
