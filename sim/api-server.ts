/**
 * A faithful-enough API server for Nodes and the Leases of one namespace: resourceVersions,
 * compare-and-swap on replace (409 on a stale write), 404 and 409 AlreadyExists, the 422 the
 * real server answers for values it refuses (checked against the harness's kube-apiserver:
 * `leaseDurationSeconds` must be > 0, `leaseTransitions` >= 0, int32 fields within int32), merge
 * patches of metadata, strategic merge of status conditions by type, and a watch per client.
 *
 * Objects are stored as JSON (a Date written becomes the string the API server would return).
 * Every write names its actor, so the invariants can tell a person's cordon from an agent's.
 */
import type { V1Lease, V1Node, V1NodeCondition } from '@kubernetes/client-node';
import type { World } from './world.ts';

export type Kind = 'node' | 'lease';
export type Obj = V1Node | V1Lease;
export type WatchEventType = 'add' | 'update' | 'delete';

export interface WatchEvent {
  readonly type: WatchEventType;
  readonly kind: Kind;
  readonly object: Obj;
}

/** An error shaped like client-node's ApiException, so the runtime's normalizer reads it. */
export class SimApiError extends Error {
  readonly code: number;
  readonly body: string;
  constructor(code: number, reason: string, message: string) {
    super(`HTTP ${code} ${reason}: ${message}`);
    this.code = code;
    this.body = JSON.stringify({ kind: 'Status', reason, message, code });
  }
}

/** A request that never got an answer (the network, or the API server down). */
export class SimNetworkError extends Error {
  override readonly cause: { code: string; message: string };
  constructor(message: string) {
    super(message);
    this.cause = { code: 'ECONNREFUSED', message };
  }
}

export interface WriteRecord {
  readonly kind: Kind;
  readonly name: string;
  readonly before: Obj | undefined;
  readonly after: Obj | undefined;
  readonly actor: string;
}

const INT32_MAX = 2_147_483_647;

const json = <T>(o: T): T => JSON.parse(JSON.stringify(o)) as T;

/**
 * Stored objects are frozen and handed out as they are: cheaper than a copy per read, and any
 * code under test that mutated what it read (instead of its own copy) would throw here.
 */
function frozen<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    for (const v of Object.values(o)) frozen(v);
    Object.freeze(o);
  }
  return o;
}

/** A mutable copy of a stored (frozen) object, for the server's own edits. */
const thaw = <T>(o: T): T => json(o);

export class SimApiServer {
  readonly #world: World;
  readonly namespace: string;
  #rv = 1000;
  #uid = 0;
  readonly #objects: Record<Kind, Map<string, Obj>> = { node: new Map(), lease: new Map() };
  readonly #watchers: Record<Kind, Set<(e: WatchEvent) => void>> = { node: new Set(), lease: new Set() };
  readonly #writeHooks: ((w: WriteRecord) => void)[] = [];
  /** While true every request fails as if the API server were unreachable. */
  down = false;

  constructor(world: World, namespace: string) {
    this.#world = world;
    this.namespace = namespace;
  }

  onWrite(hook: (w: WriteRecord) => void): void {
    this.#writeHooks.push(hook);
  }

  watch(kind: Kind, push: (e: WatchEvent) => void): () => void {
    this.#watchers[kind].add(push);
    return () => this.#watchers[kind].delete(push);
  }

  /** Ends every watch of this kind now (an API server restart): watchers relist. */
  readonly #restartHooks: (() => void)[] = [];
  onRestart(hook: () => void): void {
    this.#restartHooks.push(hook);
  }
  restart(): void {
    for (const h of this.#restartHooks) h();
  }

  get resourceVersion(): string {
    return String(this.#rv);
  }

  peek(kind: Kind, name: string): Obj | undefined {
    return this.#objects[kind].get(name);
  }

  all(kind: Kind): Obj[] {
    return [...this.#objects[kind].values()];
  }

  get(kind: Kind, name: string): Obj {
    const o = this.#objects[kind].get(name);
    if (o === undefined) throw new SimApiError(404, 'NotFound', `${kind}s "${name}" not found`);
    return o;
  }

  list(kind: Kind): { items: Obj[]; resourceVersion: string } {
    return {
      items: [...this.#objects[kind].values()],
      resourceVersion: this.resourceVersion,
    };
  }

  create(kind: Kind, body: Obj, actor: string): Obj {
    const name = body.metadata?.name ?? '';
    if (name === '') throw new SimApiError(422, 'Invalid', 'metadata.name: Required value');
    if (this.#objects[kind].has(name))
      throw new SimApiError(409, 'AlreadyExists', `${kind}s "${name}" already exists`);
    const obj = json(body);
    this.#validate(kind, obj);
    obj.metadata = {
      ...obj.metadata,
      name,
      uid: `uid-${++this.#uid}`,
      resourceVersion: String(++this.#rv),
      creationTimestamp: new Date(this.#world.now).toISOString() as unknown as Date,
    };
    if (kind === 'lease') obj.metadata.namespace = this.namespace;
    this.#commit(kind, name, undefined, obj, actor);
    return obj;
  }

  replace(kind: Kind, name: string, body: Obj, actor: string): Obj {
    const current = this.#objects[kind].get(name);
    if (current === undefined) throw new SimApiError(404, 'NotFound', `${kind}s "${name}" not found`);
    const rv = body.metadata?.resourceVersion;
    if (rv === undefined || rv === '')
      throw new SimApiError(422, 'Invalid', 'metadata.resourceVersion: must be specified for an update');
    if (rv !== current.metadata?.resourceVersion)
      throw new SimApiError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${kind}s "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      );
    const obj = json(body);
    this.#validate(kind, obj);
    obj.metadata = {
      ...obj.metadata,
      name,
      uid: current.metadata?.uid,
      creationTimestamp: current.metadata?.creationTimestamp,
      resourceVersion: String(++this.#rv),
    };
    if (kind === 'node') (obj as V1Node).status = (current as V1Node).status; // spec only
    this.#commit(kind, name, current, obj, actor);
    return obj;
  }

  /** JSON merge patch of labels and annotations (`null` removes a key). No resourceVersion check. */
  patchMetadata(
    kind: Kind,
    name: string,
    patch: {
      labels?: Readonly<Record<string, string | null>> | undefined;
      annotations?: Readonly<Record<string, string | null>> | undefined;
    },
    actor: string,
  ): Obj {
    const current = this.#objects[kind].get(name);
    if (current === undefined) throw new SimApiError(404, 'NotFound', `${kind}s "${name}" not found`);
    const obj = thaw(current);
    const merge = (
      into: Record<string, string> | undefined,
      p: Readonly<Record<string, string | null>> | undefined,
    ) => {
      if (p === undefined) return into;
      const out = { ...into };
      for (const [k, v] of Object.entries(p)) {
        if (v === null) delete out[k];
        else out[k] = v;
      }
      return out;
    };
    obj.metadata = {
      ...obj.metadata,
      labels: merge(obj.metadata?.labels, patch.labels),
      annotations: merge(obj.metadata?.annotations, patch.annotations),
      resourceVersion: String(++this.#rv),
    };
    this.#commit(kind, name, current, obj, actor);
    return obj;
  }

  /** Strategic merge of status conditions, keyed by type (the kubelet's and others' stay). */
  patchNodeConditions(name: string, conditions: readonly V1NodeCondition[], actor: string): V1Node {
    const current = this.#objects.node.get(name) as V1Node | undefined;
    if (current === undefined) throw new SimApiError(404, 'NotFound', `nodes "${name}" not found`);
    const obj = thaw(current);
    const list = [...(obj.status?.conditions ?? [])];
    for (const c of json(conditions)) {
      const i = list.findIndex((x) => x.type === c.type);
      if (i >= 0) list[i] = { ...list[i], ...c };
      else list.push(c);
    }
    obj.status = { ...obj.status, conditions: list };
    obj.metadata = { ...obj.metadata, resourceVersion: String(++this.#rv) };
    this.#commit('node', name, current, obj, actor);
    return obj;
  }

  /** Replaces a node's status as a kubelet does (bootID, Ready). */
  setNodeStatus(name: string, mutate: (n: V1Node) => void, actor: string): void {
    const current = this.#objects.node.get(name) as V1Node | undefined;
    if (current === undefined) return;
    const obj = thaw(current);
    mutate(obj);
    obj.metadata = { ...obj.metadata, resourceVersion: String(++this.#rv) };
    this.#commit('node', name, current, json(obj), actor);
  }

  delete(kind: Kind, name: string, actor: string): void {
    const current = this.#objects[kind].get(name);
    if (current === undefined) throw new SimApiError(404, 'NotFound', `${kind}s "${name}" not found`);
    ++this.#rv;
    this.#commit(kind, name, current, undefined, actor);
  }

  #validate(kind: Kind, obj: Obj): void {
    if (kind !== 'lease') return;
    const spec = (obj as V1Lease).spec ?? {};
    const d = spec.leaseDurationSeconds;
    if (d !== undefined && d !== null) {
      if (!Number.isInteger(d) || d > INT32_MAX || d < -INT32_MAX - 1)
        throw new SimApiError(400, 'BadRequest', `spec.leaseDurationSeconds: ${d} is not an int32`);
      if (d <= 0)
        throw new SimApiError(
          422,
          'Invalid',
          'spec.leaseDurationSeconds: Invalid value: must be greater than 0',
        );
    }
    const t = spec.leaseTransitions;
    if (t !== undefined && t !== null && (t < 0 || t > INT32_MAX))
      throw new SimApiError(422, 'Invalid', 'spec.leaseTransitions: must be greater than or equal to 0');
  }

  #commit(kind: Kind, name: string, before: Obj | undefined, after: Obj | undefined, actor: string): void {
    if (after !== undefined) frozen(after);
    if (after === undefined) this.#objects[kind].delete(name);
    else this.#objects[kind].set(name, after);
    for (const h of this.#writeHooks) h({ kind, name, before, after, actor });
    const type: WatchEventType = before === undefined ? 'add' : after === undefined ? 'delete' : 'update';
    const object = (after ?? before) as Obj;
    for (const w of this.#watchers[kind]) w({ type, kind, object });
  }
}
