/**
 * A bounded pool for work that costs memory while it runs (image decoding): at most `concurrency`
 * jobs at once, at most `maxQueue` waiting, and a job beyond that is refused at once with
 * QueueFullError (→ 503 + Retry-After) — the server sheds load instead of swelling.
 */
import { QueueFullError } from './batcher.js';

export class WorkPool {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  /** jobs refused because the queue was full */
  rejected = 0;

  constructor(
    readonly concurrency: number,
    readonly maxQueue: number,
  ) {
    if (!(Number.isInteger(concurrency) && concurrency >= 1)) throw new Error(`pool concurrency must be a positive integer, got ${concurrency}`);
    if (!(Number.isInteger(maxQueue) && maxQueue >= 0)) throw new Error(`pool queue must be a non-negative integer, got ${maxQueue}`);
  }

  get active(): number {
    return this.running;
  }

  get pending(): number {
    return this.waiting.length;
  }

  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.maxQueue) {
        this.rejected++;
        throw new QueueFullError(this.maxQueue);
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running++;
    }
    try {
      return await job();
    } finally {
      // hand the slot straight to the next waiting job, or free it
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
