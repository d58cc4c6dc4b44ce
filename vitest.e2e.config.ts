import { defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.js';

/** Browser tests: `npx -y pnpm@10 test:e2e` (needs Chromium: `bash scripts/ensure-chromium.sh`). Same aliases. */
export default mergeConfig(
  { resolve: base.resolve },
  defineConfig({
    test: {
      include: ['test/e2e/**/*.e2e.ts'],
      exclude: ['**/node_modules/**', '**/dist/**'],
      testTimeout: 60_000,
      hookTimeout: 60_000,
      pool: 'forks',
      fileParallelism: false,
    },
  }),
);
