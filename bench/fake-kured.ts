/**
 * Stands in for kured in bench/kured.test.ts: started exactly as bench/kured.ts starts kured
 * (startKuredProcess: its namespaces, the script inside, the forwarder), it records what kured
 * would find there and exits. Only Node's built-ins.
 *
 *   node bench/fake-kured.ts <result file> [<kured flags>...]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';

const SA = '/run/secrets/kubernetes.io/serviceaccount';

/** Sends a line to the API server's address as in-cluster configuration gives it; returns the answer. */
function askApi(): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = connect(
      { host: process.env.KUBERNETES_SERVICE_HOST, port: Number(process.env.KUBERNETES_SERVICE_PORT) },
      () => c.write('ping\n'),
    );
    let got = '';
    c.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.endsWith('\n')) c.end();
    });
    c.on('error', reject);
    c.on('close', () => resolve(got.trim()));
  });
}

/** kured's own sentinel check: `test -f` through /usr/bin/nsenter into PID 1's mount namespace. */
function nsenterTest(path: string): boolean {
  try {
    execFileSync('/usr/bin/nsenter', ['-m/proc/1/ns/mnt', '--', 'test', '-f', path]);
    return true;
  } catch {
    return false;
  }
}

const [result, ...flags] = process.argv.slice(2);
if (!result) throw new Error('usage: node bench/fake-kured.ts <result file> [<kured flags>...]');
writeFileSync(
  result,
  JSON.stringify({
    pid: process.pid,
    nodeId: process.env.KURED_NODE_ID,
    flags,
    token: readFileSync(`${SA}/token`, 'utf8'),
    ca: readFileSync(`${SA}/ca.crt`, 'utf8'),
    forwarderReady: existsSync('/run/forwarder.ready'),
    nsenterSeesPrivateRun: nsenterTest('/run/forwarder.ready'),
    api: await askApi(),
  }),
);
