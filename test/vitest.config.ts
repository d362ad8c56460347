import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['development'] },
  ssr: { resolve: { conditions: ['development'] } },
  test: {
    include: ['test/**/*.test.ts'],
    // Each file runs a whole swarm of processes: one file at a time on a 2-core machine.
    fileParallelism: false,
    // Real processes on loopback: one retry absorbs a scheduling stall on a loaded 2-core machine;
    // a behavioural failure fails both attempts.
    retry: 1,
    // Upper bounds for a machine under heavy load; a quiet 2-core machine runs each file in 30–60 s.
    testTimeout: 420_000,
    hookTimeout: 60_000,
  },
});
