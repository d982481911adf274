/**
 * Runs the batches of one fetch at once while their records are few (live load), and one after
 * another once they are many (a backlog): large batches must not all hold their working sets at
 * the same time. Each batch is of another partition, with its own store and producer.
 */
export class BatchTurns {
  private running = 0;
  private records = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly maxRecords: number) {}

  /** Batches running now. */
  get active(): number {
    return this.running;
  }

  /** Runs `work` once the batches running leave room for `size` more records (or none runs). */
  async run<T>(size: number, work: () => Promise<T>): Promise<T> {
    while (this.running > 0 && this.records + size > this.maxRecords) {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    this.running++;
    this.records += size;
    try {
      return await work();
    } finally {
      this.running--;
      this.records -= size;
      for (const wake of this.waiting.splice(0)) wake();
    }
  }
}
