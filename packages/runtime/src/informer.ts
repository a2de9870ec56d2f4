/**
 * A supervised informer. client-node's ListWatch re-lists on 410 and reconnects after its own
 * client-side timeout, but on any other failure (connection refused, 403, 5xx, a failed list)
 * it calls its error handlers and stops for good. This wrapper restarts it with jittered
 * exponential backoff, knows whether the cache is in sync (for /readyz and for "do not decide on
 * a stale view"), and reports every change to one handler.
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
  /** How many times the informer had to be restarted after an error. */
  restarts(): number;
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
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function superviseInformer<T extends KubernetesObject>(
  opts: InformerOptions<T>,
): SupervisedInformer<T> {
  const log = opts.log.child({ informer: opts.name });
  const initialBackoff = opts.initialBackoffMs ?? 500;
  const maxBackoff = opts.maxBackoffMs ?? 30_000;
  const lw = new ListWatch<T>(
    opts.path,
    new Watch(opts.kubeConfig),
    opts.list,
    false,
    opts.labelSelector,
    opts.fieldSelector,
    // client-node's default delay function is setTimeout, which it awaits: pass a real delay.
    { delayFn: sleep },
  );
  const handlers: ((event: InformerEvent | 'resync', obj: T | undefined) => void)[] = [];
  let stopping = false;
  let failed = false;
  let restartCount = 0;
  let backoff = initialBackoff;
  let restartTimer: NodeJS.Timeout | undefined;
  let firstSync: (() => void) | undefined;

  const emit = (event: InformerEvent | 'resync', obj: T | undefined) => {
    for (const h of handlers) {
      try {
        h(event, obj);
      } catch (err) {
        log.error({ err }, 'informer handler threw');
      }
    }
  };
  lw.on('add', (o) => emit('add', o));
  lw.on('update', (o) => emit('update', o));
  lw.on('delete', (o) => emit('delete', o));

  const run = async () => {
    failed = false;
    await lw.start();
    if (!failed && lw.latestResourceVersion() !== '') {
      backoff = initialBackoff;
      emit('resync', undefined);
      firstSync?.();
    }
  };

  lw.on('error', (err) => {
    if (stopping) return;
    failed = true;
    restartCount++;
    const delay = Math.round(backoff * (0.8 + Math.random() * 0.4));
    backoff = Math.min(backoff * 2, maxBackoff);
    log.warn({ err: describeKubeError(err), retryInMs: delay }, 'watch failed; restarting');
    clearTimeout(restartTimer);
    restartTimer = setTimeout(() => {
      if (!stopping) void run();
    }, delay);
  });

  return {
    async start() {
      stopping = false;
      const synced = new Promise<void>((resolve) => (firstSync = resolve));
      await run();
      if (!failed) return;
      await synced;
    },
    async stop() {
      stopping = true;
      clearTimeout(restartTimer);
      firstSync?.();
      await lw.stop();
    },
    synced: () => !failed && !stopping && lw.latestResourceVersion() !== '',
    list: () => lw.list(),
    get: (name, namespace) => lw.get(name, namespace),
    onChange: (handler) => void handlers.push(handler),
    restarts: () => restartCount,
  };
}
