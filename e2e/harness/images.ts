/**
 * baton's images, built from Dockerfile.controller and Dockerfile.agent by e2e/tools/images.sh
 * (buildah, no container engine), with the base and pause images made beside them. A build whose
 * inputs did not change is found in storage and returns at once.
 */
import { execFile, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const script = join(dirname(fileURLToPath(import.meta.url)), '..', 'tools', 'images.sh');

export interface BuiltImage {
  /** The image's reference in buildah's storage and, once imported, in a node's containerd. */
  readonly ref: string;
  /** The image as a docker-archive (what a node's containerd imports). */
  readonly archive: string;
}

export interface Images {
  readonly controller: BuiltImage;
  readonly agent: BuiltImage;
  /** The Dockerfiles' base image (Debian bookworm and Node), also the test workloads' image. */
  readonly base: BuiltImage;
  readonly pause: BuiltImage;
}

/** Builds what is missing (progress on stderr), then names every image. */
export async function ensureImages(): Promise<Images> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn('bash', [script], { stdio: ['ignore', 'inherit', 'inherit'] });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`e2e/tools/images.sh failed (exit ${code}); its output is above`)),
    );
  });
  const { stdout } = await run('bash', [script, '--print']);
  const kv = new Map(
    stdout
      .trim()
      .split('\n')
      .map((l) => l.split('=', 2) as [string, string]),
  );
  const image = (name: string): BuiltImage => {
    const ref = kv.get(name);
    const archive = kv.get(`${name}-archive`);
    if (!ref || !archive) throw new Error(`images.sh --print names no ${name}`);
    return { ref, archive };
  };
  return {
    controller: image('controller'),
    agent: image('agent'),
    base: image('base'),
    pause: image('pause'),
  };
}

/** The image's size unpacked: the sum of its layers' sizes in its manifest (bytes). */
export async function imageSize(ref: string): Promise<number> {
  const { stdout } = await run('buildah', ['inspect', '--type', 'image', '--format', '{{.Manifest}}', ref], {
    env: { ...process.env, STORAGE_DRIVER: 'vfs' },
  });
  const manifest = JSON.parse(stdout) as { layers?: { size?: number }[] };
  return (manifest.layers ?? []).reduce((sum, l) => sum + (l.size ?? 0), 0);
}
