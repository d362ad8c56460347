import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['development'] },
  ssr: { resolve: { conditions: ['development'] } },
  test: {
    include: ['test/**/*.test.ts'],
    // Each file runs a whole swarm of processes: one file at a time on a 2-core machine.
    fileParallelism: false,
    // No retry: every file passes on a 2-core machine with another process on one core (each file
    // 20–30 s), and a retry would re-run a test on the same swarm (relay started in beforeAll) and
    // hide intermittent behavioural failures. Slowness is absorbed by the generous bounds below and
    // by the manifests' 3 s lease instead.
    retry: 0,
    // Upper bounds for a machine under heavy load, never reached on a working swarm.
    testTimeout: 420_000,
    hookTimeout: 120_000,
  },
});
