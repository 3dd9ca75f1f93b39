/**
 * A bounded queue that runs requests in batches: concurrent clients share one forward pass (up to
 * `maxBatch` items), one batch runs at a time, and when `maxQueue` items wait, new ones are refused
 * at once (QueueFullError → 503) instead of piling up in memory.
 */
export class QueueFullError extends Error {
  constructor(readonly limit: number) {
    super(`the server is busy: ${limit} requests are already waiting; retry shortly`);
    this.name = 'QueueFullError';
  }
}

export interface BatcherOptions {
  maxBatch: number;
  maxQueue: number;
  /** how long the first item of a batch waits for others, ms */
  waitMs: number;
}

interface Pending<T, R> {
  item: T;
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

export class Batcher<T, R> {
  private queue: Pending<T, R>[] = [];
  private running = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** batches run and their sizes, for /healthz and the load test */
  readonly stats = { batches: 0, items: 0, largestBatch: 0, rejected: 0 };

  constructor(
    private readonly run: (items: T[]) => Promise<R[]> | R[],
    private readonly opts: BatcherOptions,
  ) {
    if (!(opts.maxBatch >= 1 && opts.maxQueue >= 1)) throw new Error('maxBatch and maxQueue must be at least 1');
  }

  get pending(): number {
    return this.queue.length;
  }

  submit(item: T): Promise<R> {
    if (this.queue.length >= this.opts.maxQueue) {
      this.stats.rejected++;
      return Promise.reject(new QueueFullError(this.opts.maxQueue));
    }
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.running || this.timer) return;
    if (this.queue.length >= this.opts.maxBatch || this.opts.waitMs <= 0) {
      void this.drain();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.drain();
    }, this.opts.waitMs);
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length) {
        const batch = this.queue.splice(0, this.opts.maxBatch);
        this.stats.batches++;
        this.stats.items += batch.length;
        this.stats.largestBatch = Math.max(this.stats.largestBatch, batch.length);
        try {
          const results = await this.run(batch.map((p) => p.item));
          if (results.length !== batch.length) throw new Error(`batch of ${batch.length} produced ${results.length} results`);
          batch.forEach((p, i) => p.resolve(results[i]));
        } catch (e) {
          batch.forEach((p) => p.reject(e));
        }
        // let the event loop accept new requests between batches
        await new Promise((r) => setImmediate(r));
      }
    } finally {
      this.running = false;
    }
  }
}
