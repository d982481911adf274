/**
 * What a task (task.ts) asks of the transaction coordinators that kafkajs has no call for: the
 * transactional ids they know (ListTransactions, KIP-664, which kafkajs predates), and fencing an
 * id without keeping a producer for it (an InitProducerId whose producer id and epoch nobody
 * uses: the id's open transaction is aborted, and whoever held it is refused from then on).
 */
import { createRequire } from 'node:module';
import { type KafkaCluster, readerCluster } from './kafka-client.js';
import type { Kafka } from 'kafkajs';
import { retryTransient } from './retry.js';

// CommonJS in the built service; jest runs the core as ES modules, from the project's root.
const load = typeof require === 'function' ? require : createRequire(`${process.cwd()}/package.json`);
const { createErrorFromCode } = load('kafkajs/src/protocol/error.js') as { createErrorFromCode: (code: number) => Error };

/** The broker of a cluster, as far as the requests below use it. */
interface CoordinatorBroker {
  initProducerId(request: { transactionalId: string; transactionTimeout: number }): Promise<unknown>;
}

/** The cluster, with what kafkajs's consumers and producers use of it to find coordinators. */
interface TransactionCluster extends KafkaCluster {
  getNodeIds(): number[];
  findGroupCoordinator(request: { groupId: string; coordinatorType: number }): Promise<CoordinatorBroker>;
}

const TRANSACTION_COORDINATOR = 1;
const LIST_TRANSACTIONS = 66;
const ATTEMPTS = 20;

/**
 * ListTransactions v0 with no filters: every transactional id the broker coordinates. A flexible
 * request (KIP-482): its header ends with tagged fields, which kafkajs's framing (header v1) does
 * not write, so the body starts with that empty tag buffer. Bodies are duck-typed encoders: kafkajs
 * takes `buf` and `buffer`.
 */
function listTransactionsRequest() {
  // Header tags (none), StateFilters [] and ProducerIdFilters [] as compact arrays (length + 1), tags.
  const bytes = Buffer.from([0, 1, 1, 0]);
  return {
    request: { apiKey: LIST_TRANSACTIONS, apiVersion: 0, apiName: 'ListTransactions', encode: async () => ({ buf: bytes, buffer: bytes }) },
    response: { decode: async (payload: Buffer) => decodeListTransactions(payload), parse: async (data: unknown) => data },
  };
}

/** A ListTransactions v0 response, after its correlation id: the ids, or the error Kafka answered. */
export function decodeListTransactions(payload: Buffer): string[] {
  const reader = new FlexibleReader(payload);
  reader.skipTags(); // response header v1
  reader.int32(); // throttle time
  const errorCode = reader.int16();
  if (errorCode !== 0) throw createErrorFromCode(errorCode);
  for (let filters = reader.arrayLength(); filters > 0; filters--) reader.string();
  const ids: string[] = [];
  for (let states = reader.arrayLength(); states > 0; states--) {
    ids.push(reader.string());
    reader.skip(8); // producer id
    reader.string(); // state
    reader.skipTags();
  }
  return ids;
}

/** Reads the compact types of flexible responses (unsigned varints, lengths stored plus one). */
class FlexibleReader {
  private at = 0;

  constructor(private readonly bytes: Buffer) {}

  int16(): number {
    const value = this.bytes.readInt16BE(this.at);
    this.at += 2;
    return value;
  }

  int32(): number {
    const value = this.bytes.readInt32BE(this.at);
    this.at += 4;
    return value;
  }

  skip(count: number): void {
    if (this.at + count > this.bytes.length) throw new RangeError('ListTransactions response ends early');
    this.at += count;
  }

  varint(): number {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = this.bytes[this.at++];
      if (byte === undefined) throw new RangeError('ListTransactions response ends early');
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
  }

  arrayLength(): number {
    return Math.max(0, this.varint() - 1);
  }

  string(): string {
    const length = this.varint() - 1;
    if (length < 0) return '';
    const value = this.bytes.toString('utf8', this.at, this.at + length);
    this.skip(length);
    return value;
  }

  skipTags(): void {
    for (let tags = this.varint(); tags > 0; tags--) {
      this.varint();
      this.skip(this.varint());
    }
  }
}

/** Finds a private method of kafkajs's broker by its symbol's description, as readerCluster finds the cluster factory. */
function sendRequest(broker: object): (request: ReturnType<typeof listTransactionsRequest>) => Promise<string[]> {
  let prototype: object | null = broker;
  while (prototype) {
    const symbol = Object.getOwnPropertySymbols(prototype).find((candidate) => candidate.description === 'private:Broker:sendRequest');
    if (symbol) return (request) => (broker as Record<symbol, (request: object) => Promise<string[]>>)[symbol]!.call(broker, request);
    prototype = Object.getPrototypeOf(prototype) as object | null;
  }
  throw new Error('this kafkajs broker cannot send a request of its own: install the version package.json names');
}

/**
 * Retries while Kafka calls a failure transient: a coordinator loading or moving, a transaction
 * still completing (which takes milliseconds, hence the short pauses).
 */
const retrying = <T>(operation: () => Promise<T>) => retryTransient(operation, ATTEMPTS, (attempt) => Math.min(20 * attempt, 500));

/**
 * The transaction coordinators of a cluster: which transactional ids they know, and fencing one.
 * Holds a cluster (connections) of its own while open.
 */
export class TransactionCoordinators {
  private readonly cluster: TransactionCluster;
  private connected?: Promise<void>;

  constructor(kafka: Kafka) {
    this.cluster = readerCluster(kafka) as TransactionCluster;
  }

  private connect(): Promise<void> {
    this.connected ??= this.cluster.connect().catch((error: unknown) => {
      this.connected = undefined;
      throw error;
    });
    return this.connected;
  }

  /** Every transactional id the cluster's coordinators know (each broker coordinates some; all asked at once). */
  async transactionalIds(): Promise<string[]> {
    await this.connect();
    await this.cluster.refreshMetadata();
    const byBroker = await Promise.all(
      this.cluster.getNodeIds().map(async (nodeId) => {
        const broker = await this.cluster.findBroker({ nodeId: String(nodeId) });
        if (!(broker as { versions?: Record<number, unknown> }).versions?.[LIST_TRANSACTIONS]) {
          throw new Error(
            `Kafka broker ${nodeId} cannot list transactions (ListTransactions, Kafka 3.0 or newer): processor groups need it to fence the transactional ids that wrote their partitions before`,
          );
        }
        return retrying(() => sendRequest(broker)(listTransactionsRequest()));
      }),
    );
    return byBroker.flat();
  }

  /**
   * Fences `transactionalId`: its open transaction is aborted (the answer waits until it is), and
   * the producer that held it is refused from its next request on.
   */
  async fence(transactionalId: string, transactionTimeoutMs: number): Promise<void> {
    await this.connect();
    await retrying(async () => {
      const coordinator = await this.cluster.findGroupCoordinator({ groupId: transactionalId, coordinatorType: TRANSACTION_COORDINATOR });
      await coordinator.initProducerId({ transactionalId, transactionTimeout: transactionTimeoutMs });
    });
  }

  async close(): Promise<void> {
    await this.connected?.catch(() => undefined);
    this.connected = undefined;
    await this.cluster.disconnect().catch(() => undefined);
  }
}
