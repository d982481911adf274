import { partitionFor } from './murmur2.js';
import { type OutgoingRecord, type PartitionAck, ProduceError, type ReliableProducer } from './producer.js';
import type { StreamTopic } from './topics.js';

/** Where an emitted message landed: read-your-writes tokens are made of this. */
export interface Delivery {
  /** Logical topic name. */
  topic: string;
  partition: number;
  offset: number;
}

/** Kafka is unreachable or did not acknowledge in time; the message may or may not be written unless `notSent`. */
export class EmitError extends ProduceError {}

export interface EmitterOptions {
  /** How long concurrent emits wait to share one produce request, in ms. */
  lingerMs: number;
  /** The longest an emit may take before it fails, in ms. */
  timeoutMs: number;
  /** Physical topic name of a logical one. */
  physical: (name: string) => string;
  /** Partition count of a physical topic (known once topics are ensured). */
  partitions: (physicalTopic: string) => number;
}

interface Pending {
  record: OutgoingRecord;
  logicalTopic: string;
  resolve: (delivery: Delivery) => void;
  reject: (error: unknown) => void;
}

/**
 * Emits typed messages to stream topics with an idempotent, acks=all producer. Concurrent
 * emits are gathered into one produce request (up to `lingerMs`, and while the previous
 * request is in flight), so many HTTP requests cost one round trip to Kafka, not one each.
 * Resolves only once Kafka has acknowledged the message.
 */
export class Emitter {
  private queue: Pending[] = [];
  private timer?: NodeJS.Timeout;
  private inFlight = false;
  private failedAt = 0;

  constructor(
    private readonly producer: Pick<ReliableProducer, 'send' | 'prepare'>,
    private readonly options: EmitterOptions,
  ) {}

  /** Settles once the producer asked to connect ahead ({@link prepare}) is connected, or could not be; undefined when nobody asked. */
  prepared?: Promise<void>;

  /** Gets the producer connected now rather than on the first emit. */
  prepare(): void {
    this.prepared ??= this.producer.prepare();
  }

  /** The partition a key's messages land on in `topic`. */
  partitionOf(topic: StreamTopic<unknown>, key: string): number {
    return partitionFor(key, this.options.partitions(this.options.physical(topic.name)));
  }

  /** Emits one message; resolves with where Kafka wrote it, rejects with {@link EmitError}. */
  emit<T>(topic: StreamTopic<T>, key: string, value: T): Promise<Delivery> {
    // Right after a failure, do not pile requests onto a broker that is not answering:
    // fail at once, certain that nothing was sent, and try again a moment later.
    if (Date.now() - this.failedAt < 1000) {
      return Promise.reject(new EmitError('Kafka is unavailable', true));
    }
    const physical = this.options.physical(topic.name);
    const record: OutgoingRecord = {
      topic: physical,
      partition: partitionFor(key, this.options.partitions(physical)),
      key,
      value: topic.codec.encode(value),
    };
    return new Promise<Delivery>((resolve, reject) => {
      const timer = setTimeout(() => {
        // Still queued: it never left, and now never will. In flight: nobody knows yet.
        const queued = this.queue.indexOf(pending);
        if (queued >= 0) this.queue.splice(queued, 1);
        reject(new EmitError(`Kafka did not acknowledge within ${this.options.timeoutMs} ms`, queued >= 0));
      }, this.options.timeoutMs);
      const pending: Pending = {
        record,
        logicalTopic: topic.name,
        resolve: (delivery) => {
          clearTimeout(timer);
          resolve(delivery);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.queue.push(pending);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.inFlight || this.timer) return;
    this.timer = setTimeout(() => void this.flush(), this.options.lingerMs);
  }

  private async flush(): Promise<void> {
    this.timer = undefined;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    this.inFlight = true;
    try {
      const acks = await this.producer.send(batch.map((pending) => pending.record));
      const offsets = offsetsByPartition(acks);
      for (const pending of batch) {
        const { topic, partition } = pending.record;
        pending.resolve({ topic: pending.logicalTopic, partition, offset: offsets.get(topic)!.get(partition)!.next() });
      }
    } catch (error) {
      this.failedAt = Date.now();
      const notSent = error instanceof ProduceError && error.notSent;
      for (const pending of batch) pending.reject(new EmitError((error as Error).message, notSent));
    } finally {
      this.inFlight = false;
      if (this.queue.length > 0) this.schedule();
    }
  }
}

/**
 * The offsets of one partition's records of a send, in the order they were sent. A send of many
 * records takes several requests, and each request acknowledges the partition apart.
 */
class PartitionOffsets {
  private readonly ranges: PartitionAck[] = [];
  private index = 0;
  private used = 0;

  add(ack: PartitionAck): void {
    this.ranges.push(ack);
  }

  next(): number {
    while (this.used >= this.ranges[this.index].count) {
      this.index++;
      this.used = 0;
    }
    return this.ranges[this.index].baseOffset + this.used++;
  }
}

/** A send's acknowledgements as each partition's offsets, by topic. */
function offsetsByPartition(acks: readonly PartitionAck[]): Map<string, Map<number, PartitionOffsets>> {
  const byTopic = new Map<string, Map<number, PartitionOffsets>>();
  for (const ack of acks) {
    let byPartition = byTopic.get(ack.topic);
    if (!byPartition) byTopic.set(ack.topic, (byPartition = new Map()));
    let offsets = byPartition.get(ack.partition);
    if (!offsets) byPartition.set(ack.partition, (offsets = new PartitionOffsets()));
    offsets.add(ack);
  }
  return byTopic;
}
