/**
 * The narrow view of the API server the commands use: Nodes, the Leases of one namespace, and
 * "who am I". Every failure comes out as a {@link CliError} that says what was being done (verb,
 * resource, name, namespace), so a 403 tells the user exactly which permission is missing.
 */
import { FieldManager } from '@baton/protocol';
import { isAlreadyExists, isConflict, isNotFound } from '@baton/runtime';
import {
  AuthenticationV1Api,
  CoordinationV1Api,
  CoreV1Api,
  createConfiguration,
  type KubeConfig,
  Observable,
  type ObservableMiddleware,
  PatchStrategy,
  ServerConfiguration,
  setHeaderOptions,
  type V1Lease,
  type V1Node,
} from '@kubernetes/client-node';
import { type Action, CliError, kubeFailure as describeKubeFailure, ExitCode } from './errors.ts';

export interface Cluster {
  /** The API server's URL, for messages. */
  readonly server: string;
  readonly namespace: string;
  listNodes(): Promise<V1Node[]>;
  /** Throws exit code 5 ("unknown node") when there is no such Node. */
  getNode(name: string): Promise<V1Node>;
  /** Sets (`value` a string) or removes (`null`) one annotation with a merge patch. */
  annotateNode(name: string, key: string, value: string | null): Promise<V1Node>;
  listLeases(): Promise<V1Lease[]>;
  /** `undefined` when the Lease does not exist. */
  findLease(name: string): Promise<V1Lease | undefined>;
  /** Throws exit code 5 when the Lease does not exist. */
  readLease(name: string): Promise<V1Lease>;
  /** `undefined` when a Lease of that name already exists. */
  createLease(body: V1Lease): Promise<V1Lease | undefined>;
  /** Replaces with the body's resourceVersion: a 409 means someone wrote first (callers use updateWithRetry). */
  replaceLease(body: V1Lease): Promise<V1Lease>;
  /** Deletes only while the Lease still has `resourceVersion` (409 otherwise); false when already gone. */
  deleteLease(name: string, resourceVersion: string | undefined): Promise<boolean>;
  /** Who the API server says the caller is (SelfSubjectReview), else the kubeconfig's user name. */
  whoAmI(): Promise<string>;
}

const NODES = 'nodes';
const LEASES = 'leases.coordination.k8s.io';
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/**
 * Aborts each request that has not been answered within `ms` (0: never). client-node has no
 * timeout of its own; a per-request signal set before sending is the one hook it offers.
 */
export function requestTimeoutMiddleware(ms: number): ObservableMiddleware {
  return {
    pre: (context) => {
      if (ms > 0) context.setSignal(AbortSignal.timeout(ms));
      return new Observable(Promise.resolve(context));
    },
    post: (response) => new Observable(Promise.resolve(response)),
  };
}

export interface ClusterOptions {
  /** See `--request-timeout`; 0 = no limit. */
  readonly requestTimeoutMs: number;
}

export function kubeCluster(kc: KubeConfig, namespace: string, options: ClusterOptions): Cluster {
  const server = kc.getCurrentCluster()?.server ?? '(no server)';
  // As kc.makeApiClient, plus the timeout (makeApiClient takes no middleware).
  const configuration = createConfiguration({
    baseServer: new ServerConfiguration(server, {}),
    authMethods: { default: kc },
    middleware: [requestTimeoutMiddleware(options.requestTimeoutMs)],
  });
  const core = new CoreV1Api(configuration);
  const coordination = new CoordinationV1Api(configuration);
  const authn = new AuthenticationV1Api(configuration);
  const timeout = { requestTimeoutMs: options.requestTimeoutMs };
  const kubeFailure = (err: unknown, action: Action, url: string) =>
    describeKubeFailure(err, action, url, timeout);

  /** Runs one request; any failure becomes a CliError describing `action`. */
  async function call<T>(action: Action, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (err) {
      throw kubeFailure(err, action, server);
    }
  }
  const unknownNode = (name: string) =>
    new CliError(ExitCode.NotFound, `unknown node "${name}": no such Node in the cluster at ${server}`);
  const lease = (verb: string, name?: string): Action => ({ verb, resource: LEASES, name, namespace });

  return {
    server,
    namespace,
    listNodes: async () => (await call({ verb: 'list', resource: NODES }, () => core.listNode())).items,

    async getNode(name) {
      try {
        return await core.readNode({ name });
      } catch (err) {
        if (isNotFound(err)) throw unknownNode(name);
        throw kubeFailure(err, { verb: 'get', resource: NODES, name }, server);
      }
    },

    async annotateNode(name, key, value) {
      try {
        return await core.patchNode(
          { name, body: { metadata: { annotations: { [key]: value } } }, fieldManager: FieldManager.Cli },
          mergePatch,
        );
      } catch (err) {
        if (isNotFound(err)) throw unknownNode(name);
        throw kubeFailure(err, { verb: 'patch', resource: NODES, name }, server);
      }
    },

    listLeases: async () =>
      (await call(lease('list'), () => coordination.listNamespacedLease({ namespace }))).items,

    async findLease(name) {
      try {
        return await coordination.readNamespacedLease({ name, namespace });
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw kubeFailure(err, lease('get', name), server);
      }
    },

    async readLease(name) {
      try {
        return await coordination.readNamespacedLease({ name, namespace });
      } catch (err) {
        if (isNotFound(err)) {
          throw new CliError(
            ExitCode.NotFound,
            `unknown slot "${name}": no such Lease in namespace ${namespace}`,
          );
        }
        throw kubeFailure(err, lease('get', name), server);
      }
    },

    async createLease(body) {
      try {
        return await coordination.createNamespacedLease({ namespace, body, fieldManager: FieldManager.Cli });
      } catch (err) {
        if (isAlreadyExists(err)) return undefined;
        if (isNotFound(err)) {
          throw new CliError(
            ExitCode.NotFound,
            `namespace ${namespace} does not exist: is baton installed there? (-n names the controller's namespace)`,
          );
        }
        throw kubeFailure(err, lease('create', body.metadata?.name), server);
      }
    },

    replaceLease: (body) =>
      call(lease('update', body.metadata?.name), () =>
        coordination.replaceNamespacedLease({
          name: body.metadata?.name ?? '',
          namespace,
          body,
          fieldManager: FieldManager.Cli,
        }),
      ),

    async deleteLease(name, resourceVersion) {
      try {
        await coordination.deleteNamespacedLease({
          name,
          namespace,
          body: resourceVersion !== undefined ? { preconditions: { resourceVersion } } : {},
        });
        return true;
      } catch (err) {
        if (isNotFound(err)) return false;
        // A 409 is left as is: updateWithRetry re-reads and decides again.
        if (isConflict(err)) throw err;
        throw kubeFailure(err, lease('delete', name), server);
      }
    },

    async whoAmI() {
      try {
        const review = await authn.createSelfSubjectReview({ body: {} });
        const user = review.status?.userInfo?.username;
        if (user) return user;
      } catch (err) {
        // Older servers lack the API (404), and a policy may forbid it (403): fall back to the
        // kubeconfig's name for the user. A server that cannot be reached fails here already.
        const failure = kubeFailure(
          err,
          { verb: 'create', resource: 'selfsubjectreviews.authentication.k8s.io' },
          server,
        );
        if (failure.exitCode === ExitCode.NoCluster) throw failure;
      }
      return kc.getCurrentUser()?.name ?? 'unknown';
    },
  };
}
