import { Logger } from '@nestjs/common';
import { type IHeaders, type Kafka, type Producer, Partitioners } from 'kafkajs';

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

const keyPartitioner = Partitioners.DefaultPartitioner();
const metadataCache = new Map<number, Array<{ partitionId: number; leader: number }>>();

/**
 * The partition of `key` among `count` partitions: murmur2, as Kafka's Java client and kafkajs
 * compute it, so that every producer of a key (API, processors, CLI) agrees.
 */
export function partitionFor(key: string, count: number): number {
  let metadata = metadataCache.get(count);
  if (!metadata) {
    metadata = Array.from({ length: count }, (_, partitionId) => ({ partitionId, leader: 0 }));
    metadataCache.set(count, metadata);
  }
  return keyPartitioner({ topic: '', partitionMetadata: metadata as never, message: { key: Buffer.from(key), value: null } });
}

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
      const byTopic = new Map<string, Array<{ key: string; value: Buffer | null; partition: number; headers?: IHeaders }>>();
      const counts = new Map<string, number>();
      for (const record of chunk) {
        const messages = byTopic.get(record.topic) ?? [];
        byTopic.set(record.topic, messages);
        messages.push({
          key: record.key,
          value: record.value === null ? null : Buffer.from(record.value.buffer, record.value.byteOffset, record.value.byteLength),
          partition: record.partition,
          headers: record.headers,
        });
        const name = `${record.topic}/${record.partition}`;
        counts.set(name, (counts.get(name) ?? 0) + 1);
      }
      let metadata;
      try {
        metadata = await producer.sendBatch({
          acks: -1,
          timeout: this.options.requestTimeoutMs,
          topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
        });
      } catch (error) {
        this.logger.warn(`send failed, replacing the producer: ${(error as Error).message}`);
        await this.reset();
        throw new ProduceError(`Kafka did not acknowledge: ${(error as Error).message}`, false);
      }
      for (const { topicName, partition, baseOffset } of metadata) {
        acks.push({ topic: topicName, partition, baseOffset: Number(baseOffset), count: counts.get(`${topicName}/${partition}`) ?? 0 });
      }
    }
    return acks;
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
