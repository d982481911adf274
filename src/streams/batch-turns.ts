/**
 * Runs the batches of one fetch at once where it is safe and cheap. Batches of different
 * partitions work on state of their own, so they run together (and those of a task then commit
 * together, Task.run); batches of one partition (one per input topic of the group) share it, so
 * they run one after another, each until it has committed.
 * And once the batches running hold many records (a backlog), the next waits for them: large
 * batches must not all hold their working sets at the same time.
 */
export class BatchTurns {
  private readonly partitions = new Set<number>();
  private records = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly maxRecords: number) {}

  /** Batches running now. */
  get active(): number {
    return this.partitions.size;
  }

  /** Runs `work`, a batch of `size` records of `partition`, once it may (see the class). */
  async run<T>(partition: number, size: number, work: () => Promise<T>): Promise<T> {
    while (this.partitions.has(partition) || (this.partitions.size > 0 && this.records + size > this.maxRecords)) {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    this.partitions.add(partition);
    this.records += size;
    try {
      return await work();
    } finally {
      this.partitions.delete(partition);
      this.records -= size;
      for (const wake of this.waiting.splice(0)) wake();
    }
  }
}
