import type { BreakerSpec, Conversion } from '../stores/types.js';

/**
 * Successful verifies counted per breaker until they are handed to the store. They ride on the next send's
 * admission step (same hash tag, same round trip), so a verify stays one store round trip; an idle instance
 * flushes them within a second.
 */
export class ConversionBuffer {
  readonly #pending = new Map<string, Conversion>();
  readonly #write: (list: Conversion[]) => Promise<unknown>;
  #timer: NodeJS.Timeout | undefined;

  constructor(write: (list: Conversion[]) => Promise<unknown>) {
    this.#write = write;
  }

  add(spec: BreakerSpec, count = 1): void {
    const entry = this.#pending.get(spec.id);
    if (entry) entry.count += count;
    else this.#pending.set(spec.id, { spec, count });
    if (!this.#timer) {
      this.#timer = setTimeout(() => void this.flush(), 1000);
      this.#timer.unref();
    }
  }

  /** Everything pending, now owned by the caller (give it back with `restore` if the store failed). */
  take(): Conversion[] {
    if (this.#pending.size === 0) return [];
    const list = [...this.#pending.values()];
    this.#pending.clear();
    return list;
  }

  restore(list: Conversion[]): void {
    for (const { spec, count } of list) this.add(spec, count);
  }

  async flush(): Promise<void> {
    this.stop();
    const list = this.take();
    if (list.length === 0) return;
    try {
      await this.#write(list);
    } catch {
      this.restore(list);
    }
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
