import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'scripts/**/*.test.js'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Suites start real processes on real ports; keep two workers on a two-core machine.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
