import { Emitter } from '../emitter.js';
import type { OutgoingRecord, PartitionAck, ReliableProducer } from '../producer.js';

interface Unanswered {
  records: readonly OutgoingRecord[];
  resolve: (acks: PartitionAck[]) => void;
  reject: (error: unknown) => void;
}

/**
 * Kafka's side of an {@link Emitter} in a test: it keeps every send unanswered until the test
 * acknowledges it (with offsets as Kafka gives them: per partition, from 0 on) or fails it.
 */
export class InMemoryProducer implements Pick<ReliableProducer, 'send' | 'prepare'> {
  /** Every send, in order, answered or not. */
  readonly sends: Array<readonly OutgoingRecord[]> = [];
  private readonly unanswered: Unanswered[] = [];
  private readonly ends = new Map<string, number>();
  private arrivals: Array<() => void> = [];

  /**
   * `chunkRecords`: answer a send as ReliableProducer does one that takes several requests, an
   * acknowledgement per partition and request, each request holding this many records.
   */
  constructor(private readonly options: { autoAcknowledge?: boolean; chunkRecords?: number } = {}) {}

  /** Whether the emitter asked to connect ahead of its first send. */
  prepared = false;

  prepare(): Promise<void> {
    this.prepared = true;
    return Promise.resolve();
  }

  send(records: readonly OutgoingRecord[]): Promise<PartitionAck[]> {
    this.sends.push(records);
    return new Promise((resolve, reject) => {
      this.unanswered.push({ records, resolve, reject });
      if (this.options.autoAcknowledge) this.acknowledge();
      for (const arrived of this.arrivals.splice(0)) arrived();
    });
  }

  /** Resolves once a send waits for an answer (at once if one does). */
  async sendWaiting(): Promise<void> {
    if (this.unanswered.length === 0) await new Promise<void>((resolve) => this.arrivals.push(resolve));
  }

  /** Answers the oldest unanswered send: written, at the next offsets of their partitions. */
  acknowledge(): void {
    const send = this.oldest();
    const size = this.options.chunkRecords ?? send.records.length;
    const answered: PartitionAck[] = [];
    for (let start = 0; start < send.records.length; start += size) {
      const acks = new Map<string, PartitionAck>();
      for (const { topic, partition } of send.records.slice(start, start + size)) {
        const name = `${topic}/${partition}`;
        const ack = acks.get(name) ?? { topic, partition, baseOffset: this.ends.get(name) ?? 0, count: 0 };
        ack.count++;
        acks.set(name, ack);
        this.ends.set(name, ack.baseOffset + ack.count);
      }
      answered.push(...acks.values());
    }
    send.resolve(answered);
  }

  /** Fails the oldest unanswered send with `error` (a `ProduceError` says whether anything was sent). */
  fail(error: Error): void {
    this.oldest().reject(error);
  }

  private oldest(): Unanswered {
    const send = this.unanswered.shift();
    if (!send) throw new Error('no send is waiting for an answer');
    return send;
  }
}

/** An {@link Emitter} on `producer`; topics keep their names and have `partitions` partitions (6 unless told). */
export function inMemoryEmitter(producer: InMemoryProducer, options: { lingerMs?: number; timeoutMs?: number; partitions?: number } = {}): Emitter {
  return new Emitter(producer, {
    lingerMs: options.lingerMs ?? 1,
    timeoutMs: options.timeoutMs ?? 1000,
    physical: (name) => name,
    partitions: () => options.partitions ?? 6,
  });
}
