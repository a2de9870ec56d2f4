/**
 * Helpers for the controller's gate tests: the agent's side of the protocol played by hand (the
 * RebootRequired condition set directly, as an agent would report it), the controller's
 * RebootGate condition and metrics read back, and a tiny loopback Prometheus.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { REBOOT_GATE_CONDITION, REBOOT_REQUIRED_CONDITION } from '@baton/protocol';
import { CoreV1Api, type KubeConfig, type V1NodeCondition } from '@kubernetes/client-node';
import { strategicMerge } from './kube.ts';

/** Reports RebootRequired on a node as its agent would (strategic merge on status). */
export async function setRebootRequired(kc: KubeConfig, name: string, required: boolean): Promise<void> {
  const now = new Date().toISOString();
  await kc.makeApiClient(CoreV1Api).patchNodeStatus(
    {
      name,
      body: {
        status: {
          conditions: [
            {
              type: REBOOT_REQUIRED_CONDITION,
              status: required ? 'True' : 'False',
              reason: required ? 'SentinelPresent' : 'NoSentinel',
              message: 'set by the e2e test',
              lastHeartbeatTime: now,
              lastTransitionTime: now,
            },
          ],
        },
      },
    },
    strategicMerge,
  );
}

export async function rebootGate(kc: KubeConfig, name: string): Promise<V1NodeCondition | undefined> {
  const node = await kc.makeApiClient(CoreV1Api).readNode({ name });
  return node.status?.conditions?.find((c) => c.type === REBOOT_GATE_CONDITION);
}

/** The value of one sample of the controller's /metrics, or undefined when it is absent. */
export async function metricSample(
  metricsUrl: string,
  name: string,
  labels: Record<string, string>,
): Promise<number | undefined> {
  const text = await (await fetch(metricsUrl)).text();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const m = /^[^{ ]+(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const have = Object.fromEntries(
      [...(m[1] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[2]);
  }
  return undefined;
}

/**
 * A loopback server answering Prometheus's /api/v1/alerts with whatever `alerts` holds. With
 * `tls`, it serves HTTPS with that certificate; with `token`, it answers 401 to any request
 * without `Authorization: Bearer <token>`.
 */
export class FakePrometheus {
  alerts: { labels: Record<string, string>; state: 'firing' | 'pending' }[] = [];
  requests = 0;
  readonly #server: Server;
  readonly #scheme: string;

  constructor(opts: { tls?: { certFile: string; keyFile: string }; token?: string } = {}) {
    const handle = (req: IncomingMessage, res: ServerResponse) => {
      this.requests++;
      if (opts.token !== undefined && req.headers.authorization !== `Bearer ${opts.token}`) {
        res.writeHead(401).end('Unauthorized');
        return;
      }
      if (req.url !== '/api/v1/alerts') {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 'success', data: { alerts: this.alerts } }));
    };
    this.#scheme = opts.tls ? 'https' : 'http';
    this.#server = opts.tls
      ? createTlsServer(
          { cert: readFileSync(opts.tls.certFile), key: readFileSync(opts.tls.keyFile) },
          handle,
        )
      : createServer(handle);
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `${this.#scheme}://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}
