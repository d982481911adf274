// Before kafkajs: see kafkajs-patches.ts.
import './kafkajs-patches.js';
import { Logger } from '@nestjs/common';
import { type IHeaders, type Kafka, type Producer, Partitioners, type RecordMetadata, type Transaction } from 'kafkajs';
import { causeType } from './retry.js';

/** A record to produce to a physical topic and a chosen partition. */
export interface OutgoingRecord {
  topic: string;
  partition: number;
  key: string;
  value: Uint8Array | null;
  headers?: IHeaders;
}

/** Where the records of one partition landed: offsets `baseOffset` … `baseOffset + count - 1`. */
export interface PartitionAck {
  topic: string;
  partition: number;
  baseOffset: number;
  count: number;
}

/** Kafka did not acknowledge a send. Whether it was written is unknown unless `notSent`. */
export class ProduceError extends Error {
  constructor(
    message: string,
    /** True when the records certainly did not reach Kafka (nothing was sent). */
    readonly notSent: boolean,
  ) {
    super(message);
  }
}

// A broker takes record batches up to message.max.bytes (1 MiB by default) per partition.
const MAX_REQUEST_BYTES = 900 * 1024;

/**
 * An idempotent producer (acks=all, one request in flight per broker, so order holds) that
 * answers each send with the offsets written, and replaces itself after a failed send: a
 * fresh producer id keeps kafkajs's idempotence bookkeeping from wedging after errors.
 */
export class ReliableProducer {
  private readonly logger: Logger;
  private producer?: Producer;
  private connecting?: Promise<Producer>;

  constructor(
    private readonly kafka: Kafka,
    name: string,
    private readonly options: { requestTimeoutMs: number; retries: number } = { requestTimeoutMs: 10_000, retries: 5 },
  ) {
    this.logger = new Logger(`Producer:${name}`);
  }

  /** Sends the records in order; resolves when Kafka has acknowledged all of them. */
  async send(records: readonly OutgoingRecord[]): Promise<PartitionAck[]> {
    if (records.length === 0) return [];
    let producer: Producer;
    try {
      producer = await this.connect();
    } catch (error) {
      throw new ProduceError(`cannot connect to Kafka: ${(error as Error).message}`, true);
    }
    const acks: PartitionAck[] = [];
    for (const chunk of chunks(records)) {
      try {
        const metadata = await producer.sendBatch({ acks: -1, timeout: this.options.requestTimeoutMs, topicMessages: topicMessages(chunk) });
        acks.push(...toAcks(metadata, chunk));
      } catch (error) {
        this.logger.warn(`send failed, replacing the producer: ${(error as Error).message}`);
        await this.reset();
        throw new ProduceError(`Kafka did not acknowledge: ${(error as Error).message}`, false);
      }
    }
    return acks;
  }

  /**
   * Connects ahead of the first send, which otherwise pays for the connection and the producer
   * id (~25-60 ms; ~200 ms on a broker just started, whose transaction coordinator is still
   * loading). Settles once connected, or once the attempt failed: a failure is logged and left
   * to the first send, which tries again.
   */
  prepare(): Promise<void> {
    return this.connect().then(
      () => undefined,
      (error: unknown) => this.logger.warn(`could not connect ahead of the first send: ${(error as Error).message}`),
    );
  }

  private connect(): Promise<Producer> {
    if (this.producer) return Promise.resolve(this.producer);
    this.connecting ??= (async () => {
      const producer = this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        createPartitioner: Partitioners.DefaultPartitioner,
        retry: { retries: this.options.retries, initialRetryTime: 100, maxRetryTime: 2_000 },
      });
      try {
        await producer.connect();
      } catch (error) {
        await producer.disconnect().catch(() => undefined);
        throw error;
      } finally {
        this.connecting = undefined;
      }
      this.producer = producer;
      return producer;
    })();
    return this.connecting;
  }

  private async reset(): Promise<void> {
    const producer = this.producer;
    this.producer = undefined;
    await producer?.disconnect().catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.connecting?.catch(() => undefined);
    await this.reset();
  }
}

/** How long a processor group's transaction may stay open before its coordinator aborts it. */
export const TRANSACTION_TIMEOUT_MS = 60_000;

/** The broker had not finished the previous transaction; nothing of this one was written. */
class ConcurrentTransactionError extends ProduceError {}

/** Another producer took over the transactional id, or fenced it: this instance lost the partitions. */
export class ProducerFencedError extends ProduceError {}

const FENCED = new Set(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED', 'INVALID_PRODUCER_ID_MAPPING']);

/**
 * A transactional producer for one task of a processor group (task.ts): the outputs and
 * changelog records of the batches it commits together become visible together, at commit, or not
 * at all. Claiming its transactional id fences the producer that held it before (whose open
 * transaction is aborted, and whose later writes are refused).
 */
export class TransactionalProducer {
  private readonly logger: Logger;
  private producer?: Producer;

  constructor(
    private readonly kafka: Kafka,
    readonly transactionalId: string,
    private readonly requestTimeoutMs = 10_000,
  ) {
    this.logger = new Logger(`Producer:${transactionalId}`);
  }

  /**
   * Takes the transactional id over: older producers with it are fenced, their open transaction
   * aborted. Always with a new producer, even when this one holds the id already (a rejoin):
   * Kafka answers a commit before it has written the transaction's markers, and only a new
   * producer id request waits for them. Without it, a restoration right after a commit could
   * read the changelog's end (its last stable offset) from before this instance's own last
   * transaction.
   */
  async claim(): Promise<void> {
    await this.close();
    const producer = await this.connect();
    const transaction = await producer.transaction();
    await transaction.abort();
  }

  /**
   * Sends the records in one transaction and commits it; resolves with the offsets written.
   * `beforeCommit` runs when everything is sent and nothing is visible yet.
   */
  async send(records: readonly OutgoingRecord[], beforeCommit?: () => void): Promise<PartitionAck[]> {
    if (records.length === 0) return [];
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.sendOnce(records, beforeCommit);
      } catch (error) {
        // The broker is still writing the previous transaction's markers: wait a moment.
        if (!(error instanceof ConcurrentTransactionError) || attempt >= 20) throw error;
        await new Promise((resolve) => setTimeout(resolve, 10 * attempt));
      }
    }
  }

  private async sendOnce(records: readonly OutgoingRecord[], beforeCommit?: () => void): Promise<PartitionAck[]> {
    let transaction: Transaction | undefined;
    try {
      const producer = await this.connect();
      transaction = await producer.transaction();
      const acks: PartitionAck[] = [];
      for (const chunk of chunks(records)) {
        const metadata = await transaction.sendBatch({ acks: -1, timeout: this.requestTimeoutMs, topicMessages: topicMessages(chunk) });
        acks.push(...toAcks(metadata, chunk));
      }
      beforeCommit?.();
      await transaction.commit();
      return acks;
    } catch (error) {
      await transaction?.abort().catch(() => undefined);
      const type = causeType(error);
      if (type === 'CONCURRENT_TRANSACTIONS' && transaction && !transaction.isActive()) throw new ConcurrentTransactionError(type, true);
      await this.close();
      if (FENCED.has(type)) throw new ProducerFencedError(`fenced: another instance owns ${this.transactionalId} now`, false);
      this.logger.warn(`transaction failed, replacing the producer: ${(error as Error).message}`);
      throw new ProduceError(`Kafka did not commit the transaction: ${(error as Error).message}`, false);
    }
  }

  private async connect(): Promise<Producer> {
    if (this.producer) return this.producer;
    const producer = this.kafka.producer({
      transactionalId: this.transactionalId,
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
      transactionTimeout: TRANSACTION_TIMEOUT_MS,
    });
    await producer.connect();
    this.producer = producer;
    return producer;
  }

  async close(): Promise<void> {
    const producer = this.producer;
    this.producer = undefined;
    await producer?.disconnect().catch(() => undefined);
  }
}

function topicMessages(records: readonly OutgoingRecord[]) {
  const byTopic = new Map<string, Array<{ key: string; value: Buffer | null; partition: number; headers?: IHeaders }>>();
  for (const record of records) {
    const messages = byTopic.get(record.topic) ?? [];
    byTopic.set(record.topic, messages);
    messages.push({
      key: record.key,
      value: record.value === null ? null : Buffer.from(record.value.buffer, record.value.byteOffset, record.value.byteLength),
      partition: record.partition,
      headers: record.headers,
    });
  }
  return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
}

/**
 * The acknowledgements of a send, one per partition written. Throws when a partition the
 * records went to has none: kafkajs 2.2.4 silently drops the messages of a partition whose
 * leader moved, during the send, to a broker that had already answered (seen with a broker of a
 * 3-node cluster stopped mid-load). Such records were never written.
 */
function toAcks(metadata: RecordMetadata[], records: readonly OutgoingRecord[]): PartitionAck[] {
  // Records per partition, by topic: a transaction holds thousands, so no string per record.
  const counts = new Map<string, Map<number, number>>();
  for (const { topic, partition } of records) {
    let byPartition = counts.get(topic);
    if (!byPartition) counts.set(topic, (byPartition = new Map()));
    byPartition.set(partition, (byPartition.get(partition) ?? 0) + 1);
  }
  const acks = metadata.map(({ topicName, partition, baseOffset }) => ({
    topic: topicName,
    partition,
    baseOffset: Number(baseOffset),
    count: counts.get(topicName)?.get(partition) ?? 0,
  }));
  const missing = [...counts].flatMap(([topic, byPartition]) =>
    [...byPartition.keys()].filter((partition) => !acks.some((ack) => ack.topic === topic && ack.partition === partition)).map((partition) => `${topic}/${partition}`),
  );
  if (missing.length > 0) throw new UnacknowledgedError(`no acknowledgement for ${missing.join(', ')}`);
  return acks;
}

/** Kafka's answer to a send left partitions out: their records were not written. */
class UnacknowledgedError extends Error {}

function* chunks(records: readonly OutgoingRecord[]): Generator<OutgoingRecord[]> {
  let chunk: OutgoingRecord[] = [];
  let bytes = 0;
  for (const record of records) {
    const size = record.key.length + (record.value?.byteLength ?? 0) + 64;
    if (chunk.length > 0 && bytes + size > MAX_REQUEST_BYTES) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
    chunk.push(record);
    bytes += size;
  }
  if (chunk.length > 0) yield chunk;
}
