import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeLocalPort, runNode, writeBrokenKubeconfigs } from '@baton/runtime/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const main = join(import.meta.dirname, 'main.ts');

describe('baton-controller main with an unusable kubeconfig', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'baton-controller-kubeconfig-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('exits 3 with one line naming the file and what is wrong, no stack, no credential', async () => {
    const cases = await writeBrokenKubeconfigs(dir, { context: true });
    const runs = await Promise.all(
      cases.map(async ({ path }) => {
        const port = await freeLocalPort();
        const run = runNode([
          main,
          '--metrics-host=127.0.0.1',
          `--metrics-port=${port}`,
          `--kubeconfig=${path}`,
        ]);
        return { code: await run.exited, output: run.output() };
      }),
    );
    for (const [i, { what, path, problem }] of cases.entries()) {
      const { code, output } = runs[i] ?? { code: undefined, output: '' };
      expect(code, `${what}: ${output}`).toBe(3);
      const lines = output.trimEnd().split('\n');
      expect(lines, what).toHaveLength(1);
      const prefix = `baton-controller: not starting: kubeconfig ${path}: `;
      expect(lines[0]?.startsWith(prefix), output).toBe(true);
      expect(lines[0]?.slice(prefix.length), what).toMatch(problem);
      expect(output, what).not.toContain('hunter2');
    }
  }, 60_000);
});
