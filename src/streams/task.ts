import { Logger } from '@nestjs/common';
import type { Kafka } from 'kafkajs';
import type { BatchResult } from './batch.js';
import type { TransactionCoordinators } from './kafkajs-transactions.js';
import type { CommitStep, PartitionState, PreparedCommit } from './partition-state.js';
import { TRANSACTION_TIMEOUT_MS, TransactionalProducer } from './producer.js';
import type { LocalStore } from './state-store.js';

/** Consecutive partitions, `first` to `last`. */
export interface PartitionRange {
  first: number;
  last: number;
}

/** The runs of consecutive numbers in `partitions`, in order. */
export function partitionRuns(partitions: Iterable<number>): PartitionRange[] {
  const runs: PartitionRange[] = [];
  for (const partition of [...partitions].sort((a, b) => a - b)) {
    const run = runs.at(-1);
    if (run && partition === run.last + 1) run.last = partition;
    else runs.push({ first: partition, last: partition });
  }
  return runs;
}

/**
 * The transactional id of a task: `<group>-<partition>` for one partition (the id each partition
 * had when every partition had a producer of its own), `<group>-<first>-<last>` for more.
 */
export const taskTransactionalId = (group: string, { first, last }: PartitionRange) => (first === last ? `${group}-${first}` : `${group}-${first}-${last}`);

/** The partitions whose task had transactional id `id`, when it is one of `group`'s. */
export function rangeOfTransactionalId(group: string, id: string): PartitionRange | undefined {
  if (!id.startsWith(`${group}-`)) return undefined;
  const match = /^(\d+)(?:-(\d+))?$/.exec(id.slice(group.length + 1));
  if (!match) return undefined;
  const first = Number(match[1]);
  const last = match[2] === undefined ? first : Number(match[2]);
  return first <= last ? { first, last } : undefined;
}

const overlap = (a: PartitionRange, b: PartitionRange) => a.first <= b.last && b.first <= a.last;

export interface TaskDeps {
  coordinators: TransactionCoordinators;
  /** The group's local store, which its partitions share. */
  store: LocalStore;
  afterCommitStep?: (step: CommitStep) => void;
  /** Called for each Kafka transaction committed. */
  onTransaction?: () => void;
  producer?: TaskProducer;
}

/** What a task needs of its transactional producer (a test may give it another). */
export type TaskProducer = Pick<TransactionalProducer, 'claim' | 'send' | 'close'>;

interface Waiting {
  state: PartitionState;
  prepared: PreparedCommit;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * A run of consecutive partitions that one instance of a group owns, and the transactional
 * producer its batches commit through (Kafka Streams' task, over a range of partitions rather
 * than one). The batches of a fetch that run together commit in one transaction: under live load
 * every fetch brings a batch for each partition, and a transaction for each cost the broker more
 * than the deposits did (docs/streams.md).
 *
 * A partition moves between instances as part of a range, and ranges change with the number of
 * instances, so the transactional id that last wrote a partition may differ from the one taking
 * it over. Before its partitions restore, a task therefore claims its own id and fences every id
 * of the group whose range overlaps its own ({@link claim}): whichever task claimed last is the
 * only one that can write a partition.
 */
export class Task {
  readonly transactionalId: string;
  private readonly logger: Logger;
  private readonly producer: TaskProducer;
  /** Batches of this task being processed, whose commit the next transaction waits for. */
  private processing = 0;
  private waiting: Waiting[] = [];
  private committing = false;
  /** The claim of the current assignment, under way or done. */
  private claiming?: Promise<void>;

  constructor(
    private readonly group: string,
    readonly range: PartitionRange,
    kafka: Kafka,
    private readonly deps: TaskDeps,
  ) {
    this.transactionalId = taskTransactionalId(group, range);
    this.logger = new Logger(`Task:${this.transactionalId}`);
    this.producer = deps.producer ?? new TransactionalProducer(kafka, this.transactionalId);
  }

  /** Claims the task ({@link claim}) once per assignment: a claim that failed is tried again. */
  claimed(): Promise<void> {
    this.claiming ??= this.claim().catch((error: unknown) => {
      this.claiming = undefined;
      throw error;
    });
    return this.claiming;
  }

  /** A new assignment: the next {@link claimed} claims again (another instance may have written meanwhile). */
  reassigned(): void {
    this.claiming = undefined;
  }

  /**
   * Takes the task's partitions over from whoever wrote them before. Claims the task's own id
   * (its previous holder fenced, its last transaction's markers written) and only then lists the
   * group's ids, so that a task claiming an overlapping range at the same time finds this one and
   * fences it in turn. Every listed id whose range overlaps is fenced: its open transaction is
   * aborted, its producer refused from then on.
   */
  private async claim(): Promise<void> {
    await this.producer.claim();
    const others = (await this.deps.coordinators.transactionalIds()).filter((id) => {
      const range = rangeOfTransactionalId(this.group, id);
      return id !== this.transactionalId && range !== undefined && overlap(range, this.range);
    });
    await Promise.all(others.map((id) => this.deps.coordinators.fence(id, TRANSACTION_TIMEOUT_MS)));
    if (others.length > 0) this.logger.log(`fenced ${others.join(', ')}: transactional ids that may have written these partitions before`);
  }

  /**
   * Processes one batch of a partition of this task (`process`), then commits it in a transaction
   * with every other batch of the task processed meanwhile: once no batch of the task is still
   * being processed. Resolves with the batch's result once its values are written locally too.
   */
  async run(state: PartitionState, inputTopic: string, process: () => Promise<BatchResult>): Promise<BatchResult> {
    this.processing++;
    let result: BatchResult;
    let prepared: PreparedCommit;
    try {
      result = await process();
      prepared = state.prepare(result, inputTopic);
    } catch (error) {
      this.processing--;
      this.commitWaiting();
      throw error;
    }
    await new Promise<void>((resolve, reject) => {
      this.waiting.push({ state, prepared, resolve, reject });
      this.processing--;
      this.commitWaiting();
    });
    return result;
  }

  private commitWaiting(): void {
    if (this.committing || this.processing > 0 || this.waiting.length === 0) return;
    this.committing = true;
    const batches = this.waiting;
    this.waiting = [];
    void this.commit(batches).finally(() => {
      this.committing = false;
      this.commitWaiting();
    });
  }

  private async commit(batches: readonly Waiting[]): Promise<void> {
    try {
      const records = batches.length === 1 ? batches[0].prepared.records : batches.flatMap((batch) => batch.prepared.records);
      const acks = await this.producer.send(records, () => this.deps.afterCommitStep?.('transaction-sent'));
      if (records.length > 0) this.deps.onTransaction?.();
      this.deps.afterCommitStep?.('transaction-committed');
      const write = this.deps.store.startWrite();
      const checkpoints = batches.flatMap(({ state, prepared }) => state.stage(write, prepared, acks));
      await write.write(checkpoints);
      this.deps.afterCommitStep?.('store-written');
      for (const batch of batches) batch.resolve();
    } catch (error) {
      for (const batch of batches) batch.reject(error);
    }
  }

  async close(): Promise<void> {
    await this.producer.close();
  }
}
