import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // Dawn is a native addon: one process per test file, each with its own GPU device.
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
