import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['development'] },
  ssr: { resolve: { conditions: ['development'] } },
  test: {
    include: ['test/**/*.test.ts'],
    // Files start libp2p swarms and child processes: one file at a time on a 2-core machine.
    fileParallelism: false,
    // Real processes on loopback: one retry absorbs a scheduling stall on a loaded 2-core machine;
    // a behavioural failure fails both attempts.
    retry: 1,
    testTimeout: 120_000,
    hookTimeout: 90_000,
  },
});
