import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Deadlines } from '../src/deadlines.js';

describe('Deadlines (one timer for every store call)', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('a call that ends in time never expires, and leaves no timer behind', () => {
    const deadlines = new Deadlines(100);
    const expired = vi.fn();
    const timed = deadlines.start(expired);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(99);
    expect(deadlines.end(timed)).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(1_000);
    expect(expired).not.toHaveBeenCalled();
  });

  it('a call past the limit expires once; ending it afterwards says it was too late', () => {
    const deadlines = new Deadlines(100);
    const expired = vi.fn();
    const timed = deadlines.start(expired);
    vi.advanceTimersByTime(100);
    expect(expired).toHaveBeenCalledTimes(1);
    expect(deadlines.end(timed)).toBe(false);
    vi.advanceTimersByTime(1_000);
    expect(expired).toHaveBeenCalledTimes(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('calls expire in the order they started, each at its own deadline; ended ones are skipped', () => {
    const deadlines = new Deadlines(100);
    const order: string[] = [];
    deadlines.start(() => order.push('a'));
    vi.advanceTimersByTime(30);
    const b = deadlines.start(() => order.push('b'));
    vi.advanceTimersByTime(30);
    deadlines.start(() => order.push('c'));
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(40); // t = 100: a is due
    expect(order).toEqual(['a']);
    expect(deadlines.end(b)).toBe(true);
    vi.advanceTimersByTime(59); // t = 159: c (due at 160) is not
    expect(order).toEqual(['a']);
    vi.advanceTimersByTime(1);
    expect(order).toEqual(['a', 'c']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a call started by an expiring one is timed by the same single timer', () => {
    const deadlines = new Deadlines(100);
    const later = vi.fn();
    deadlines.start(() => deadlines.start(later));
    vi.advanceTimersByTime(100);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(100);
    expect(later).toHaveBeenCalledTimes(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('thousands of calls ending out of order keep the list consistent', () => {
    const deadlines = new Deadlines(100);
    const expired: number[] = [];
    const timed = Array.from({ length: 2_000 }, (_, i) => deadlines.start(() => expired.push(i)));
    // End every call whose index is not a multiple of 7, from the middle outwards.
    const order = timed.map((_, i) => i).sort((a, b) => Math.abs(a - 1_000) - Math.abs(b - 1_000));
    for (const i of order) if (i % 7 !== 0) expect(deadlines.end(timed[i]!)).toBe(true);
    vi.advanceTimersByTime(100);
    expect(expired).toEqual(timed.map((_, i) => i).filter((i) => i % 7 === 0));
    expect(vi.getTimerCount()).toBe(0);
  });

  it('race: the outcome in time (a rejection mapped), else the timeout error; a late value goes to `late`', async () => {
    const deadlines = new Deadlines(100);
    const timeout = () => new Error('timed out');
    const fail = (error: unknown) => new Error(`mapped: ${(error as Error).message}`);
    await expect(deadlines.race(Promise.resolve(1), timeout, fail)).resolves.toBe(1);
    await expect(deadlines.race(Promise.reject(new Error('no')), timeout, fail)).rejects.toThrow(
      'mapped: no',
    );

    let settle!: (value: number) => void;
    const late = vi.fn();
    const raced = deadlines.race(new Promise<number>((resolve) => (settle = resolve)), timeout, fail, late);
    vi.advanceTimersByTime(100);
    await expect(raced).rejects.toThrow('timed out');
    settle(7);
    await vi.waitFor(() => expect(late).toHaveBeenCalledWith(7));
    expect(vi.getTimerCount()).toBe(0);
  });
});
