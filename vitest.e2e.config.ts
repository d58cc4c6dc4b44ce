import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (pkg: string) => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

/** Browser tests: `npx -y pnpm@10 test:e2e` (needs Chromium: `bash scripts/ensure-chromium.sh`). */
export default defineConfig({
  resolve: {
    alias: {
      '@sms-otp/core': src('core'),
      '@sms-otp/express': src('express'),
      '@sms-otp/koa': src('koa'),
      '@sms-otp/fastify': src('fastify'),
    },
  },
  test: {
    include: ['test/e2e/**/*.e2e.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
