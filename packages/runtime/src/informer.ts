/**
 * The one informer: list, then watch from the list's resourceVersion; watch again from the last
 * seen version (bookmarks included) when the server ends a watch; list again on 410 Gone; on any
 * other failure mark the cache unsynced and retry with jittered exponential backoff; `stop()`
 * ends it. It knows whether the cache is in sync (for /readyz and for "do not decide on a stale
 * view") and reports every change to its handlers.
 *
 * A watchdog covers what no error reports: a list or a watch request that hangs, a connection
 * that stays open but delivers nothing, a cache that drifted. When neither an event nor a
 * successful list was seen for `watchdogMs`, the current request is abandoned and everything is
 * listed again (so a quiet resource is also relisted that often: the periodic resync). Until that
 * list succeeds, `synced()` is false and `list()` still answers from the cache as it was.
 *
 * The loop is written against {@link ListWatchSource}, so its decisions are unit-tested with a
 * scripted source. Two real sources: {@link kubeListWatchSource} over baton's small
 * {@link KubeClient} (the agent's: no client-node), and `clientNodeListWatchSource`
 * (client-node-source.ts, the controller's). This module imports no client-node code.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { KubeClient, WatchEvent } from './kube-client.ts';
import { describeKubeError, normalizeKubeError } from './kube-errors.ts';

export type InformerEvent = 'add' | 'update' | 'delete';

export interface SupervisedInformer<T extends KubernetesObject> {
  /** Starts listing and watching; resolves once the first list succeeded (retrying until then) or `stop()` is called. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** True while the cache reflects a successful list and the watch that followed it. */
  synced(): boolean;
  list(): readonly T[];
  get(name: string, namespace?: string): T | undefined;
  /** Registers a handler for every change; also called with `resync` on (re)list completion. */
  onChange(handler: (event: InformerEvent | 'resync', obj: T | undefined) => void): void;
  /** How many times the informer restarted (after a failure, or by the watchdog). */
  restarts(): number;
  /** The last error while not in sync (for "why not ready" messages); undefined once synced. */
  lastError(): string | undefined;
}

export interface ListResult<T> {
  readonly items: readonly T[];
  readonly resourceVersion: string;
}

export interface ListWatchSource<T> {
  list(): Promise<ListResult<T>>;
  /**
   * Streams events until the server ends the watch (resolves), the watch fails (rejects; a
   * rejection with code 410 means "list again"), or `signal` aborts (resolves).
   */
  watch(resourceVersion: string, onEvent: (event: WatchEvent<T>) => void, signal: AbortSignal): Promise<void>;
}

export interface InformerLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface InformerOptions<T> {
  readonly name: string;
  readonly source: ListWatchSource<T>;
  readonly log: InformerLog;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** A watch that ends sooner than this without an event counts as a failure (no hot loop). */
  readonly minWatchMs?: number;
  /** List again after this long without an event or a successful list; 0 = never (default 5 min). */
  readonly watchdogMs?: number;
  /**
   * Drops what the caller never reads from each object before it is cached (in place, on every
   * listed and watched object): at thousands of Nodes, managedFields and status.images are most
   * of the cache's memory.
   */
  readonly trim?: (obj: T) => void;
  /**
   * Like `trim`, but returns the object to cache and hand to the handlers (a projection of a new,
   * smaller object); applied after `trim`.
   */
  readonly project?: (obj: T) => T;
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly now?: () => number;
  readonly random?: () => number;
}

/** Every object's managedFields: written by the API server for server-side apply, never read here. */
export function dropManagedFields(obj: KubernetesObject): void {
  if (obj.metadata !== undefined) delete obj.metadata.managedFields;
}

export const DEFAULT_WATCHDOG_MS = 5 * 60_000;

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

const ABANDONED = Symbol('abandoned');

/** `p`, or {@link ABANDONED} as soon as `signal` aborts (a list cannot be cancelled; its late answer is dropped). */
function unlessAborted<V>(p: Promise<V>, signal: AbortSignal): Promise<V | typeof ABANDONED> {
  if (signal.aborted) {
    p.catch(() => undefined);
    return Promise.resolve(ABANDONED);
  }
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve(ABANDONED);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) resolve(ABANDONED);
        else reject(err);
      },
    );
  });
}

const keyOf = (o: KubernetesObject) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

export function superviseInformer<T extends KubernetesObject>(
  opts: InformerOptions<T>,
): SupervisedInformer<T> {
  const initialBackoff = opts.initialBackoffMs ?? 500;
  const maxBackoff = opts.maxBackoffMs ?? 30_000;
  const minWatchMs = opts.minWatchMs ?? 1_000;
  const watchdogMs = opts.watchdogMs ?? DEFAULT_WATCHDOG_MS;
  const sleep = opts.sleep ?? abortableSleep;
  const now = opts.now ?? Date.now;
  const random = opts.random ?? Math.random;
  const trim = opts.trim;
  const project = opts.project;
  const cache = new Map<string, T>();
  const handlers: ((event: InformerEvent | 'resync', obj: T | undefined) => void)[] = [];
  let controller: AbortController | undefined;
  /** The current list-and-watch attempt; the watchdog aborts it to list again. */
  let attempt: AbortController | undefined;
  let loop: Promise<void> | undefined;
  let watchdog: NodeJS.Timeout | undefined;
  let lastActivity = now();
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

  const keep = (obj: T): T => {
    trim?.(obj);
    return project === undefined ? obj : project(obj);
  };

  const replace = (items: readonly T[]) => {
    const seen = new Set<string>();
    for (const listed of items) {
      const item = keep(listed);
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
    const rv = event.object.metadata?.resourceVersion;
    if (event.type === 'BOOKMARK') return rv;
    if (event.type !== 'ADDED' && event.type !== 'MODIFIED' && event.type !== 'DELETED') return undefined;
    // The watched object, trimmed or projected, is the one cached: the cache shrinks.
    const obj = keep(event.object);
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
    }
  };

  const run = async (stop: AbortSignal) => {
    let backoff = initialBackoff;
    const fail = async (err: unknown, what: string) => {
      // Nothing for the watchdog to abandon while backing off.
      attempt = undefined;
      inSync = false;
      restartCount++;
      lastError = describeKubeError(err);
      const delay = Math.round(backoff * (0.8 + random() * 0.4));
      backoff = Math.min(backoff * 2, maxBackoff);
      opts.log.warn({ informer: opts.name, err: lastError, retryInMs: delay }, `${what}; retrying`);
      await sleep(delay, stop);
    };
    /**
     * Lists into the cache; returns the list's resourceVersion. The listed objects die here: held
     * in the loop below they would outlive the list by the whole watch (thousands of full Nodes).
     */
    const listIntoCache = async (signal: AbortSignal): Promise<string | typeof ABANDONED> => {
      const listed = await unlessAborted(opts.source.list(), signal);
      if (listed === ABANDONED || stop.aborted) return ABANDONED;
      replace(listed.items);
      return listed.resourceVersion;
    };
    while (!stop.aborted) {
      const mine = new AbortController();
      attempt = mine;
      lastActivity = now();
      let listedVersion: string | typeof ABANDONED;
      try {
        listedVersion = await listIntoCache(mine.signal);
      } catch (err) {
        if (!stop.aborted) await fail(err, 'list failed');
        continue;
      }
      if (stop.aborted) return;
      if (listedVersion === ABANDONED) continue; // the watchdog: list again
      inSync = true;
      lastError = undefined;
      lastActivity = now();
      emit('resync', undefined);
      firstSync?.();
      let rv = listedVersion;
      // Watch until the watch fails; the server ending a watch normally just starts the next one.
      for (;;) {
        const started = now();
        let events = 0;
        try {
          await opts.source.watch(
            rv,
            (event) => {
              if (mine.signal.aborted) return;
              events++;
              lastActivity = now();
              rv = apply(event) ?? rv;
            },
            mine.signal,
          );
        } catch (err) {
          if (mine.signal.aborted) break;
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
        if (mine.signal.aborted) break;
        if (events === 0 && now() - started < minWatchMs) {
          await fail(new Error('the watch ended at once without an event'), 'watch ended early');
          break;
        }
        backoff = initialBackoff;
      }
    }
  };

  const checkWatchdog = () => {
    const quiet = now() - lastActivity;
    if (controller?.signal.aborted !== false || quiet < watchdogMs || attempt === undefined) return;
    if (attempt.signal.aborted) return;
    restartCount++;
    inSync = false;
    opts.log.warn(
      { informer: opts.name, why: `no event and no successful list for ${Math.round(quiet / 1000)} s` },
      'listing everything again',
    );
    attempt.abort();
  };

  return {
    async start() {
      if (loop !== undefined) return;
      const mine = new AbortController();
      controller = mine;
      const synced = new Promise<void>((resolve) => (firstSync = resolve));
      lastActivity = now();
      if (watchdogMs > 0) {
        watchdog = setInterval(checkWatchdog, Math.max(10, Math.min(watchdogMs / 4, 30_000)));
        watchdog.unref();
      }
      loop = run(mine.signal).catch((err: unknown) =>
        opts.log.error({ informer: opts.name, err: String(err) }, 'informer loop ended unexpectedly'),
      );
      await Promise.race([synced, loop]);
    },
    async stop() {
      controller?.abort();
      attempt?.abort();
      clearInterval(watchdog);
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

/** The source over baton's {@link KubeClient}: a collection path and optional selectors, listed in pages. */
export function kubeListWatchSource<T extends KubernetesObject>(
  client: KubeClient,
  path: string,
  opts: {
    readonly fieldSelector?: string;
    readonly labelSelector?: string;
    /** Each watch's timeoutSeconds (see spreadWatchTimeouts); the client's default otherwise. */
    readonly watchTimeoutSeconds?: () => number;
  } = {},
): ListWatchSource<T> {
  const { watchTimeoutSeconds, ...selectors } = opts;
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
      client.watch<T>(
        path,
        {
          ...selectors,
          resourceVersion,
          ...(watchTimeoutSeconds !== undefined ? { timeoutSeconds: watchTimeoutSeconds() } : {}),
        },
        onEvent,
        signal,
      ),
  };
}
