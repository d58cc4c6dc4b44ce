import { defineConfig } from 'tsup';

/**
 * The build of every package: ESM (`.js`, `.d.ts`) and CommonJS (`.cjs`, `.d.cts`) side by side, for Node 20,
 * with dependencies and peer dependencies left as imports. No source maps: the sources are not published.
 * Code two entries share (core's `testing` importing the engine) goes to one chunk, not a copy in each.
 */
export const library = (entry: Record<string, string>) =>
  defineConfig({
    entry,
    format: ['esm', 'cjs'],
    dts: true,
    clean: true,
    sourcemap: false,
    splitting: true,
    target: 'node20',
    platform: 'node',
    tsconfig: 'tsconfig.build.json',
  });
