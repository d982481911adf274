import type { AppliedOffsets } from '../state-store.js';
import { type ChangelogBatchHandler, changelogRecordOf } from '../changelog-reader.js';
import { APPLIED_HEADER, formatApplied } from '../state-store.js';
import type { TableTopic } from '../topics.js';
import { View } from '../view.js';

/**
 * A real {@link View} (its replica in a local store under `dataDir`) whose changelog is written
 * by the test rather than read from Kafka: `put` is what a processor group's commit would
 * write. For testing code that reads views, and views themselves, without Kafka.
 *
 *   const balances = await ViewFeed.start(topics.balanceTable, dataDir);
 *   await balances.put('w1', balance, { deposit: 4 });
 *   new WalletService(balances.view, …);
 */
export class ViewFeed<T> {
  private next = 0;

  private constructor(
    readonly view: View<T>,
    /** Where the changelog ends, as Kafka would say: the high watermark. */
    private end: number,
    /** What the view asked its reader to call with each batch. */
    private readonly reader: { onBatch?: ChangelogBatchHandler },
  ) {}

  /**
   * Starts a view of `table`, one partition whose changelog ends at `changelogEnd` (0 unless
   * told): the view is ready once that many records have been put.
   */
  static async start<T>(table: TableTopic<T>, dataDir: string, options: { changelogEnd?: number } = {}): Promise<ViewFeed<T>> {
    const end = options.changelogEnd ?? 0;
    const reader: { onBatch?: ChangelogBatchHandler } = {};
    const view = new View(table, {
      ends: { endsOf: async () => [{ partition: 0, offset: String(end) }] },
      connection: { brokers: [], clientId: 'view-feed', topicPrefix: '', partitions: 1, replicationFactor: 1, sessionTimeoutMs: 6000 },
      dataDir,
      cacheValues: 1000,
      partitions: () => 1,
      openReader: () => ({
        follow: async (_from, onBatch) => {
          reader.onBatch = onBatch;
        },
        stop: async () => undefined,
      }),
    });
    const feed = new ViewFeed(view, end, reader);
    await view.start();
    return feed;
  }

  /** Writes the key's value (a tombstone when `undefined`) with the input offsets it reflects. */
  async put(key: string, value: T | undefined, applied: AppliedOffsets = {}): Promise<void> {
    const offset = this.next++;
    this.end = Math.max(this.end, offset + 1);
    const record = changelogRecordOf(offset, key, value === undefined ? null : this.view.table.codec.encode(value), { [APPLIED_HEADER]: formatApplied(applied) });
    await this.reader.onBatch!(this.view.table.name, 0, [record], offset + 1, this.end);
  }

  async stop(): Promise<void> {
    await this.view.stop();
  }
}
