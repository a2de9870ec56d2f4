/**
 * A TCP → Unix-socket forwarder, the project's own replacement for `socat` in the kured
 * benchmark (bench/kured.ts) and the real node (e2e/harness/real-node.ts). Each kured runs in a
 * network namespace of its own (kured serves metrics on :8080: fifty of them need fifty
 * loopbacks); inside it, this forwarder listens on 127.0.0.1:<API port> and carries every
 * connection to a Unix socket, which the bench process forwards to the API server outside.
 *
 *   node bench/tcp-to-unix.ts <host> <port> <unix socket> <ready file>
 *
 * It writes the port it listens on to <ready file> (port 0: a free one) once it accepts
 * connections, so a shell waits for that file instead of probing the port. Only Node's
 * built-ins: it runs as is on the Node the workspace installs (type stripping), no dependency.
 */
import { writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * Joins two sockets both ways, half-closes included (both must be made with allowHalfOpen: an
 * end from one side is passed on while the other still answers). An error on either destroys
 * both; one closed without an error ends the other.
 */
export function splice(a: Socket, b: Socket): void {
  a.pipe(b);
  b.pipe(a);
  const destroy = () => {
    a.destroy();
    b.destroy();
  };
  a.on('error', destroy);
  b.on('error', destroy);
  a.once('close', () => {
    if (!b.destroyed) b.end();
  });
  b.once('close', () => {
    if (!a.destroyed) a.end();
  });
}

/** Listens on host:port (0: a free port) and forwards each connection to the Unix socket. */
export async function forwardTcpToUnix(host: string, port: number, socketPath: string): Promise<Server> {
  const server = createServer({ allowHalfOpen: true }, (conn) =>
    splice(conn, createConnection({ path: socketPath, allowHalfOpen: true })),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

/** The command line, checked: host, port, socket, ready file. */
export function parseArgs(argv: readonly string[]): {
  host: string;
  port: number;
  socket: string;
  ready: string;
} {
  const [host, port, socket, ready] = argv;
  const n = Number(port);
  if (argv.length !== 4 || !host || !socket || !ready || !Number.isInteger(n) || n < 0 || n > 65535) {
    throw new Error(
      `usage: node bench/tcp-to-unix.ts <host> <port> <unix socket> <ready file> (got: ${argv.join(' ')})`,
    );
  }
  return { host, port: n, socket, ready };
}

if (import.meta.main) {
  try {
    const o = parseArgs(process.argv.slice(2));
    const server = await forwardTcpToUnix(o.host, o.port, o.socket);
    const address = server.address();
    writeFileSync(o.ready, `${typeof address === 'object' && address ? address.port : o.port}\n`);
  } catch (err) {
    process.stderr.write(`tcp-to-unix: ${(err as Error).message}\n`);
    process.exit(1);
  }
}
