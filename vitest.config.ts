import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // test/binary runs in the binary pass only: MCPG_BIN names the executable.
    exclude: process.env.MCPG_BIN ? [] : ['test/binary/**'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
  },
});
