/** A call being timed: a node of the list, in the order the calls started. */
export interface Timed {
  deadline: number;
  expire: (() => void) | undefined;
  prev: Timed | undefined;
  next: Timed | undefined;
}

/**
 * One time limit shared by many concurrent calls, kept with one timer. Every call gets the same limit, so
 * the order they started in is the order their deadlines fall in: they sit in a linked list, a call that
 * finishes unlinks itself (O(1)), and the one timer waits for the oldest. A `setTimeout`/`clearTimeout` pair
 * per store call cost more than the rest of a verify's own JavaScript (BENCHMARKS.md, "Hand-tuned code in
 * the core").
 *
 * @example
 * const deadlines = new Deadlines(2000);
 * const value = await deadlines.race(call(), () => new Error('timeout'), (error) => error);
 */
export class Deadlines {
  readonly #ms: number;
  #head: Timed | undefined;
  #tail: Timed | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** The deadline the timer was set for. */
  #armedFor = 0;

  constructor(ms: number) {
    this.#ms = ms;
  }

  /** Starts timing a call; `expire` runs once if the call has not ended within the limit. */
  start(expire: () => void): Timed {
    const timed: Timed = {
      deadline: performance.now() + this.#ms,
      expire,
      prev: this.#tail,
      next: undefined,
    };
    if (this.#tail) this.#tail.next = timed;
    else this.#head = timed;
    this.#tail = timed;
    if (!this.#timer) this.#arm(this.#ms, timed.deadline);
    return timed;
  }

  /**
   * `promise`'s outcome if it settles within the limit (a rejection mapped by `fail`), else a rejection with
   * `timeout()`. A value that arrives after the limit goes to `late` (to undo what it did), if given.
   */
  race<T>(
    promise: Promise<T>,
    timeout: () => unknown,
    fail: (error: unknown) => unknown,
    late?: (value: T) => unknown,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timed = this.start(() => reject(timeout()));
      promise.then(
        (value) => {
          if (this.end(timed)) resolve(value);
          else if (late)
            Promise.resolve(value)
              .then(late)
              .catch(() => {});
        },
        (error: unknown) => {
          if (this.end(timed)) reject(fail(error));
        },
      );
    });
  }

  /** Ends a call: `true` if it ended in time, `false` if it had expired already (its `expire` ran). */
  end(timed: Timed): boolean {
    if (!timed.expire) return false;
    timed.expire = undefined;
    this.#unlink(timed);
    if (!this.#head && this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    return true;
  }

  #unlink(timed: Timed): void {
    if (timed.prev) timed.prev.next = timed.next;
    else this.#head = timed.next;
    if (timed.next) timed.next.prev = timed.prev;
    else this.#tail = timed.prev;
    timed.prev = undefined;
    timed.next = undefined;
  }

  #arm(delay: number, deadline: number): void {
    this.#armedFor = deadline;
    this.#timer = setTimeout(() => this.#fire(), Math.max(1, Math.ceil(delay)));
  }

  #fire(): void {
    this.#timer = undefined;
    // A timer never fires early by more than rounding; anything due by the deadline it was set for is due.
    const now = Math.max(performance.now(), this.#armedFor);
    while (this.#head && this.#head.deadline <= now) {
      const timed = this.#head;
      const expire = timed.expire!;
      timed.expire = undefined;
      this.#unlink(timed);
      expire();
    }
    // (`expire` may have started a call, and with it the timer.)
    if (this.#head && !this.#timer) this.#arm(this.#head.deadline - now, this.#head.deadline);
  }
}
