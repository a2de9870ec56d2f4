import { execFileSync, spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ownInitProblems, realNodeUnsupported } from './real-node.ts';

describe("the real node's guard", () => {
  it("refuses a process of this machine's own namespaces: every reason named", () => {
    expect(ownInitProblems(process.pid)).toEqual([
      "it shares this machine's PID namespace",
      "it shares this machine's mount namespace",
      "it shares this machine's network namespace",
      expect.stringMatching(/^it is not PID 1 in its namespace \(NSpid \d+\)$/),
    ]);
  });

  it.skipIf(realNodeUnsupported() !== undefined)(
    'accepts PID 1 of new PID, mount and network namespaces',
    async () => {
      const child = spawn(
        'unshare',
        ['--pid', '--mount', '--net', '--fork', '--kill-child', '--mount-proc', 'sleep', '30'],
        {
          stdio: 'ignore',
        },
      );
      try {
        let inner: number | undefined;
        for (let i = 0; i < 100 && inner === undefined; i++) {
          await new Promise((r) => setTimeout(r, 50));
          const out = execFileSync('pgrep', ['-P', String(child.pid)], { encoding: 'utf8' }).trim();
          inner = out ? Number(out.split('\n')[0]) : undefined;
        }
        expect(inner).toBeDefined();
        expect(ownInitProblems(inner as number)).toEqual([]);
      } finally {
        child.kill('SIGKILL');
      }
    },
  );
});
