/**
 * Child process of bench/memory.ts (run with --expose-gc): heap used per pending code in a MemoryStore.
 * Prints one JSON line: { codes, bytes, ms }.
 */
import { MemoryStore } from '@sms-otp/core';
import { issueInput } from './memory.js';
import { cnPhone } from './support.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

const codes = Number(process.argv[2] ?? 1_000_000);
const store = new MemoryStore({ maxEntries: codes + 1_000, sweepIntervalMs: 3_600_000 });
const now = Date.now();

gc();
gc();
const before = process.memoryUsage().heapUsed;
const t0 = performance.now();
for (let i = 0; i < codes; i += 1) {
  await store.issue(issueInput(cnPhone('138', i), now));
}
const ms = performance.now() - t0;
gc();
gc();
const after = process.memoryUsage().heapUsed;
if (store.size < codes) throw new Error(`only ${store.size} records kept`);
console.log(JSON.stringify({ codes, bytes: after - before, ms }));
await store.close();
