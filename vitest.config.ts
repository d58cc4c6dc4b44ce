import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (pkg: string, entry = 'index') =>
  fileURLToPath(new URL(`./packages/${pkg}/src/${entry}.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    // Exact names: a plain '@sms-otp/core' key would also take '@sms-otp/core/testing' to '…/index.ts/testing'.
    alias: [
      { find: /^@sms-otp\/core$/, replacement: src('core') },
      { find: /^@sms-otp\/core\/testing$/, replacement: src('core', 'testing/index') },
      { find: /^@sms-otp\/express$/, replacement: src('express') },
      { find: /^@sms-otp\/koa$/, replacement: src('koa') },
      { find: /^@sms-otp\/fastify$/, replacement: src('fastify') },
    ],
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts', 'examples/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**', 'test/e2e/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
