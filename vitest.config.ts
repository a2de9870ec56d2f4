import { defineConfig } from 'vitest/config';

// Two projects: `unit` (tests next to the code, no cluster, no network) and `e2e` (the real
// control plane started once per run by e2e/global-setup.ts, or E2E_KUBECONFIG's cluster).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            'packages/*/src/**/*.test.ts',
            'scripts/**/*.test.ts',
            'e2e/**/*.test.ts',
            'bench/**/*.test.ts',
            'sim/**/*.test.ts',
          ],
          environment: 'node',
          // Some unit tests start the real processes (no cluster); give a loaded machine room.
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['e2e/**/*.e2e.ts'],
          environment: 'node',
          globalSetup: ['e2e/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          // One control plane, shared: test files run one after another.
          fileParallelism: false,
        },
      },
    ],
  },
});
