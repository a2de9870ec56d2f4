/**
 * Builds the single-file bundles the images run: dist/controller/main.mjs and
 * dist/agent/main.mjs, each with every dependency inside, so an image needs only `node` and the
 * file (Dockerfile.controller and Dockerfile.agent copy exactly these paths); and the kubectl
 * plugin dist/kubectl-baton/kubectl-baton.mjs, an executable file (`#!/usr/bin/env node`) a user
 * copies onto the PATH as `kubectl-baton`.
 */

import { chmod } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Components and where their bundle goes; the Dockerfiles and tests name the same paths. */
/**
 * The Node.js flags the agent's image runs its bundle with (Dockerfile.agent's ENTRYPOINT; the
 * benchmarks and e2e fleets that run the bundle use them too). The agent is idle nearly always:
 * a young generation of 1 MiB semi-spaces, V8's size-over-speed heuristics and its lite mode (no
 * optimizing compilers) took its idle resident memory from 76.3 to 65.1 MiB and its peak while
 * draining 100 pods from 82.5 to 69.3 MiB, with the drain as fast (bench/agent-memory.ts, one run
 * each on 2026-12-07; 62.2 and 66.7 MiB since node:http no longer loads undici). Lite mode has no WebAssembly, so no undici `fetch`: bundle.test.ts checks
 * the agent's bundle uses neither.
 */
export const AGENT_NODE_FLAGS = ['--max-semi-space-size=1', '--optimize-for-size', '--lite-mode'] as const;

/**
 * The controller's (Dockerfile.controller's ENTRYPOINT; benchmarks running its bundle use them
 * too). V8 lets the young generation grow to 16 MiB semi-spaces under the steady stream of Node
 * events at thousands of nodes, and keeps those pages: 4 MiB semi-spaces took an idle controller
 * at 5,000 nodes from 206 to 162 MiB resident at the same CPU (1.48 and 1.58 % of a core); 2 MiB
 * gave 160 MiB but 2.18 % (bench/scale.ts, one run each on 2026-12-07).
 */
export const CONTROLLER_NODE_FLAGS = ['--max-semi-space-size=4'] as const;

/**
 * glibc malloc settings both images set (Dockerfile ENV; benchmarks and e2e runs of the bundles
 * too). With its defaults, memory freed after a burst (a list of thousands of Nodes, a drain)
 * stays resident: each thread may get its own arena, and the threshold above which a block is
 * mapped on its own (and unmapped when freed) grows with the blocks freed, so large response
 * buffers end up inside the heap and fragment it. Two arenas and a fixed 128 KiB threshold took
 * an idle controller at 5,000 nodes from 166.7 to 149.8 MiB resident (bench/scale.ts, one run
 * each on 2026-12-07).
 */
export const MALLOC_ENV = {
  MALLOC_ARENA_MAX: '2',
  MALLOC_MMAP_THRESHOLD_: '131072',
  MALLOC_TRIM_THRESHOLD_: '131072',
} as const;

export const bundles = {
  controller: {
    entry: 'packages/controller/src/main.ts',
    out: 'dist/controller/main.mjs',
    nodeFlags: CONTROLLER_NODE_FLAGS,
    env: MALLOC_ENV,
  },
  agent: {
    entry: 'packages/agent/src/main.ts',
    out: 'dist/agent/main.mjs',
    nodeFlags: AGENT_NODE_FLAGS,
    env: MALLOC_ENV,
  },
  'kubectl-baton': {
    entry: 'packages/cli/src/main.ts',
    out: 'dist/kubectl-baton/kubectl-baton.mjs',
    executable: true,
  },
} as const satisfies Record<
  string,
  {
    entry: string;
    out: string;
    executable?: boolean;
    nodeFlags?: readonly string[];
    env?: Readonly<Record<string, string>>;
  }
>;

const REQUIRE_SHIM =
  "import { createRequire as __batonCreateRequire } from 'node:module'; const require = __batonCreateRequire(import.meta.url);";

export async function bundle(outRoot = root): Promise<string[]> {
  const written: string[] = [];
  for (const b of Object.values(bundles)) {
    const { entry, out } = b;
    const executable = 'executable' in b && b.executable;
    const outfile = join(outRoot, out);
    await build({
      entryPoints: [join(root, entry)],
      outfile,
      bundle: true,
      platform: 'node',
      target: 'node24',
      format: 'esm',
      // Minified: about 6 MiB less resident memory (less source to hold and parse); the source map keeps stack traces readable with --enable-source-maps.
      minify: true,
      sourcemap: 'linked',
      // The plugin is one file to copy: its licence notices travel inside it.
      legalComments: executable ? 'eof' : 'linked',
      logLevel: 'warning',
      // Some dependencies are CommonJS and call require(); give the ESM bundle one.
      banner: { js: executable ? `#!/usr/bin/env node\n${REQUIRE_SHIM}` : REQUIRE_SHIM },
    });
    if (executable) await chmod(outfile, 0o755);
    written.push(outfile);
  }
  return written;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const files = await bundle();
  for (const f of files) process.stdout.write(`bundled ${f}\n`);
}
