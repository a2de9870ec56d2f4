/**
 * A supervised informer. client-node's ListWatch re-lists on 410 and reconnects after its own
 * client-side timeout, but on any other failure (connection refused, 403, 5xx, a failed list)
 * it calls its error handlers and stops for good. This wrapper restarts it with jittered
 * exponential backoff, knows whether the cache is in sync (for /readyz and for "do not decide on
 * a stale view"), and reports every change to one handler.
 *
 * A watchdog covers what no error reports: a list or a watch request that hangs, a connection
 * that stays open but delivers nothing, a cache that drifted. When neither an event nor a
 * successful list was seen for `watchdogMs`, the informer is replaced by a fresh one that lists
 * everything again (so a quiet resource is also relisted that often: the periodic resync). Until
 * the new list succeeds, `synced()` is false and `list()` still answers from the old cache.
 */
import {
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  ListWatch,
  Watch,
} from '@kubernetes/client-node';
import { describeKubeError } from './kube-errors.ts';
import type { Logger } from './logger.ts';

export type InformerEvent = 'add' | 'update' | 'delete';

export interface SupervisedInformer<T extends KubernetesObject> {
  /** Starts listing and watching; resolves once the first list succeeded (retrying until then) or `stop()` is called. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** True while the cache reflects a successful list and an open watch. */
  synced(): boolean;
  list(): readonly T[];
  get(name: string, namespace?: string): T | undefined;
  /** Registers the handler for every change; also called with `resync` on (re)list completion. */
  onChange(handler: (event: InformerEvent | 'resync', obj: T | undefined) => void): void;
  /** How many times the informer was restarted (after an error, or by the watchdog). */
  restarts(): number;
  /** The last error while not in sync (for "why not ready" messages); undefined once synced. */
  lastError(): string | undefined;
}

/** The part of client-node's ListWatch used here (a seam for unit tests). */
export interface ListWatchLike<T extends KubernetesObject> {
  start(): Promise<void>;
  stop(): Promise<void>;
  on(verb: 'add' | 'update' | 'delete', cb: (obj: T) => void): void;
  on(verb: 'error', cb: (err: unknown) => void): void;
  list(): ReadonlyArray<T>;
  get(name: string, namespace?: string): T | undefined;
  latestResourceVersion(): string;
}

export interface InformerOptions<T extends KubernetesObject> {
  readonly name: string;
  readonly kubeConfig: KubeConfig;
  /** API path, e.g. `/api/v1/nodes` or `/apis/coordination.k8s.io/v1/namespaces/baton/leases`. */
  readonly path: string;
  readonly list: () => Promise<KubernetesListObject<T>>;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  readonly log: Logger;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Relist from scratch after this long without an event or a successful list; 0 = never (default 5 min). */
  readonly watchdogMs?: number;
  readonly now?: () => number;
  /** Makes the underlying ListWatch; default client-node's. */
  readonly createListWatch?: () => ListWatchLike<T>;
  /**
   * Drops what the caller never reads from each object before it is cached (in place, on every
   * listed and watched object): at thousands of Nodes, managedFields and status.images are most
   * of the cache's memory.
   */
  readonly trim?: (obj: T) => void;
}

/** `list`, with `trim` applied to every item it returns. */
export function trimmedList<T extends KubernetesObject>(
  list: () => Promise<KubernetesListObject<T>>,
  trim: (obj: T) => void,
): () => Promise<KubernetesListObject<T>> {
  return async () => {
    const page = await list();
    for (const item of page.items) trim(item);
    return page;
  };
}

/** Every object's managedFields: written by the API server for server-side apply, never read here. */
export function dropManagedFields(obj: KubernetesObject): void {
  if (obj.metadata !== undefined) delete obj.metadata.managedFields;
}

export const DEFAULT_WATCHDOG_MS = 5 * 60_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function superviseInformer<T extends KubernetesObject>(
  opts: InformerOptions<T>,
): SupervisedInformer<T> {
  const log = opts.log.child({ informer: opts.name });
  const initialBackoff = opts.initialBackoffMs ?? 500;
  const maxBackoff = opts.maxBackoffMs ?? 30_000;
  const watchdogMs = opts.watchdogMs ?? DEFAULT_WATCHDOG_MS;
  const now = opts.now ?? Date.now;
  const trim = opts.trim;
  const list = trim === undefined ? opts.list : trimmedList(opts.list, trim);
  const createListWatch =
    opts.createListWatch ??
    (() =>
      new ListWatch<T>(
        opts.path,
        new Watch(opts.kubeConfig),
        list,
        false,
        opts.labelSelector,
        opts.fieldSelector,
        // client-node's default delay function is setTimeout, which it awaits: pass a real delay.
        { delayFn: sleep },
      ));
  const handlers: ((event: InformerEvent | 'resync', obj: T | undefined) => void)[] = [];
  let stopping = false;
  let failed = false;
  let restartCount = 0;
  let backoff = initialBackoff;
  let restartTimer: NodeJS.Timeout | undefined;
  let watchdog: NodeJS.Timeout | undefined;
  let firstSync: (() => void) | undefined;
  let lastActivity = now();
  let lastError: string | undefined;

  const emit = (event: InformerEvent | 'resync', obj: T | undefined) => {
    for (const h of handlers) {
      try {
        h(event, obj);
      } catch (err) {
        log.error({ err }, 'informer handler threw');
      }
    }
  };

  // Events of a replaced ListWatch are ignored: only the current one speaks.
  let lw: ListWatchLike<T>;
  /** The cache `list()` answers from: the current ListWatch once it has listed, else the one before. */
  let served: ListWatchLike<T>;
  const make = (): ListWatchLike<T> => {
    const l = createListWatch();
    const on = (event: InformerEvent) => (o: T) => {
      // The watched object is the one the ListWatch caches: trimmed in place, the cache shrinks.
      trim?.(o);
      if (l !== lw) return;
      lastActivity = now();
      emit(event, o);
    };
    l.on('add', on('add'));
    l.on('update', on('update'));
    l.on('delete', on('delete'));
    l.on('error', (err) => onError(l, err));
    return l;
  };

  const run = async () => {
    const mine = lw;
    failed = false;
    await mine.start();
    if (mine !== lw) return; // replaced by the watchdog while listing
    if (!failed && mine.latestResourceVersion() !== '') {
      backoff = initialBackoff;
      lastActivity = now();
      served = mine;
      lastError = undefined;
      emit('resync', undefined);
      firstSync?.();
    }
  };

  const onError = (l: ListWatchLike<T>, err: unknown) => {
    if (stopping || l !== lw) return;
    failed = true;
    restartCount++;
    const delay = Math.round(backoff * (0.8 + Math.random() * 0.4));
    backoff = Math.min(backoff * 2, maxBackoff);
    lastError = describeKubeError(err);
    log.warn({ err: lastError, retryInMs: delay }, 'watch failed; restarting');
    clearTimeout(restartTimer);
    restartTimer = setTimeout(() => {
      if (!stopping) void run();
    }, delay);
  };

  /** Replaces the ListWatch with a fresh one, which lists everything again. */
  const replace = (why: string) => {
    const old = lw;
    restartCount++;
    clearTimeout(restartTimer);
    log.warn({ why }, 'restarting the informer with a full relist');
    lw = make();
    lastActivity = now();
    void old.stop().catch(() => undefined);
    void run().catch((err: unknown) => onError(lw, err));
  };

  const checkWatchdog = () => {
    if (stopping || watchdogMs <= 0) return;
    const quiet = now() - lastActivity;
    if (quiet >= watchdogMs) {
      replace(`no event and no successful list for ${Math.round(quiet / 1000)} s`);
    }
  };

  lw = make();
  served = lw;

  return {
    async start() {
      stopping = false;
      const synced = new Promise<void>((resolve) => (firstSync = resolve));
      lastActivity = now();
      clearInterval(watchdog);
      if (watchdogMs > 0) {
        watchdog = setInterval(checkWatchdog, Math.max(10, Math.min(watchdogMs / 4, 30_000)));
        watchdog.unref();
      }
      // Not `await run()`: a list that hangs would hold start() forever, even after the watchdog
      // replaced it with one that succeeded.
      const first = lw;
      void run().catch((err: unknown) => onError(first, err));
      await synced;
    },
    async stop() {
      stopping = true;
      clearTimeout(restartTimer);
      clearInterval(watchdog);
      firstSync?.();
      await lw.stop();
    },
    synced: () => !failed && !stopping && served === lw && lw.latestResourceVersion() !== '',
    list: () => served.list(),
    get: (name, namespace) => served.get(name, namespace),
    onChange: (handler) => void handlers.push(handler),
    restarts: () => restartCount,
    lastError: () => lastError,
  };
}
