/**
 * The bench's own Kafka access, independent of the service's streams core: lag from the admin
 * API, topics read to their end (read committed), and a prefill producer that writes real
 * protobuf Deposit events with the project's codec and partitioner.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Admin, type Kafka, Partitioners } from 'kafkajs';
import { newDeposit } from '../../src/contracts/deposit-event';
import { topics } from '../../src/contracts/topic-map';
import { partitionFor } from '../../src/streams/index';
import type { ChangelogEntry } from '../../src/streams/changelog-reader';
import { locateFetched } from '../../src/streams/kafkajs-records';

/** The service's groups and the topics each consumes (SPEC §3). */
const GROUP_INPUTS: GroupInputs = [
  ['balance', ['deposit']],
  ['threshold', ['deposit', 'flag_wallet']],
  ['flagger', ['flag_wallet']],
];

/** The partition count the bench runs the service with (the service's default). */
export const PARTITIONS = 6;

/** End offset (log end) of every partition of `topic`, with an admin from `logEndAdmin`; undefined while it does not exist. */
export async function endOffsets(admin: Admin, topic: string): Promise<number[] | undefined> {
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    const ends: number[] = [];
    for (const { partition, high } of offsets) ends[partition] = Number(high);
    return ends;
  } catch {
    return undefined;
  }
}

/** Offsets committed by `groupId` on `topic`, per partition (0 where none yet). */
export async function committedOffsets(admin: Admin, groupId: string, topic: string): Promise<number[]> {
  const [result] = await admin.fetchOffsets({ groupId, topics: [topic] });
  const offsets: number[] = [];
  for (const { partition, offset } of result.partitions) offsets[partition] = Math.max(0, Number(offset));
  return offsets;
}

/** Which topics each group consumes. */
export type GroupInputs = ReadonlyArray<readonly [group: string, inputs: readonly string[]]>;

/**
 * Records not yet committed by each group (the service's, by default) under `prefix`, summed
 * over its inputs; -1 while a topic is missing. Committed offsets are read before end offsets,
 * so a zero is never early: an output of a group (flag events) is on its topic before that
 * group commits the input that caused it.
 */
export async function serviceLag(admin: Admin, prefix: string, groups: GroupInputs = GROUP_INPUTS): Promise<Record<string, number>> {
  const committed = new Map<string, number[]>();
  for (const [group, inputs] of groups) {
    for (const input of inputs) committed.set(`${group}/${input}`, await committedOffsets(admin, `${prefix}${group}`, `${prefix}${input}`));
  }
  const ends = new Map<string, number[] | undefined>();
  for (const input of new Set(groups.flatMap(([, inputs]) => inputs))) ends.set(input, await endOffsets(admin, `${prefix}${input}`));
  const lag: Record<string, number> = {};
  for (const [group, inputs] of groups) {
    lag[group] = 0;
    for (const input of inputs) {
      const end = ends.get(input);
      if (!end) {
        lag[group] = -1;
        break;
      }
      const done = committed.get(`${group}/${input}`)!;
      lag[group] += end.reduce((sum, high, partition) => sum + Math.max(0, high - (done[partition] ?? 0)), 0);
    }
  }
  return lag;
}

/** Polls until every group's committed lag is 0; resolves with the time it happened (ms since epoch). */
export async function waitForZeroLag(
  admin: Admin,
  prefix: string,
  timeoutMs: number,
  alive?: () => void,
  intervalMs = 100,
  onSample?: (lag: Record<string, number>) => void,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last: Record<string, number> = {};
  while (Date.now() < deadline) {
    alive?.();
    last = await serviceLag(admin, prefix).catch(() => ({ error: -1 }));
    if (!('error' in last)) onSample?.(last);
    if (Object.values(last).every((lag) => lag === 0)) return Date.now();
    await sleep(intervalMs);
  }
  throw new Error(`groups did not reach lag 0 within ${timeoutMs / 1000} s (last: ${JSON.stringify(last)})`);
}

/**
 * Creates a stream topic as the service would (it checks, and keeps, topics that exist), and
 * waits until every partition has a leader that answers.
 */
export async function createStreamTopic(admin: Admin, topic: string, partitionCount = PARTITIONS): Promise<void> {
  // kafkajs's waitForLeaders gives up when a broker has not seen the new leaders yet: the
  // loop below decides.
  await admin.createTopics({ topics: [{ topic, numPartitions: partitionCount, replicationFactor: 1 }], waitForLeaders: true }).catch(() => undefined);
  for (let attempt = 0; attempt < 200; attempt++) {
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] }).catch(() => undefined);
    const partitions = metadata?.topics[0]?.partitions ?? [];
    if (partitions.length === partitionCount && partitions.every((partition) => partition.leader >= 0) && (await endOffsets(admin, topic))) return;
    await sleep(100);
  }
  throw new Error(`topic ${topic} was not created, or has partitions without a leader`);
}

/** One deposit to write: wallet, amount in minor units, event time. */
export interface DepositSpec {
  walletId: string;
  amountMinor: bigint;
  acceptedAtMs: number;
}

/**
 * Writes deposits to `topic` as the API would: a protobuf Deposit (newDeposit, the topic's
 * codec), keyed by wallet id, on partitionFor(wallet id).
 */
export function produceDeposits(
  kafka: Kafka,
  topic: string,
  count: number,
  spec: (index: number) => DepositSpec,
  options: { perSend?: number; partitions?: number } = {},
): Promise<{ seconds: number }> {
  const partitions = options.partitions ?? PARTITIONS;
  return produceRecords(kafka, topic, count, (index) => {
    const { walletId, amountMinor, acceptedAtMs } = spec(index);
    const value = topics.deposit.codec.encode(newDeposit(walletId, amountMinor, acceptedAtMs));
    return { key: walletId, value: Buffer.from(value.buffer, value.byteOffset, value.byteLength), partition: partitionFor(walletId, partitions) };
  }, options.perSend);
}

/**
 * Writes `count` records made by `record` to `topic`: idempotent, acks=all, `perSend` records
 * per send, the next chunk made while the previous one is in flight.
 */
export async function produceRecords(
  kafka: Kafka,
  topic: string,
  count: number,
  record: (index: number) => { key: string; value: Buffer; partition: number },
  perSend = 5000,
): Promise<{ seconds: number }> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const chunk = (from: number) => {
    const messages = [];
    for (let index = from; index < Math.min(count, from + perSend); index++) messages.push(record(index));
    return messages;
  };
  const started = performance.now();
  try {
    let inFlight: Promise<unknown> | undefined;
    for (let from = 0; from < count; from += perSend) {
      const messages = chunk(from);
      await inFlight;
      inFlight = producer.send({ topic, acks: -1, messages });
    }
    await inFlight;
    return { seconds: (performance.now() - started) / 1000 };
  } finally {
    await producer.disconnect();
  }
}

/** A record read back from a topic. */
export interface ReadRecord {
  partition: number;
  offset: number;
  key: string | null;
  value: Buffer | null;
  /** Where its parts lie, as the service's changelog readers ask for them (`ChangelogRecord.locate`). */
  locate(into: ChangelogEntry, header: Buffer, mark: Buffer): boolean;
}

/**
 * Reads every partition of `topic` from the beginning up to its end offsets as of the call,
 * committed records only (read_committed), through a throwaway group. Transaction markers
 * and aborted records count as read, without reaching `onRecords`.
 */
export async function readTopic(kafka: Kafka, admin: Admin, topic: string, onRecords: (records: ReadRecord[]) => void, timeoutMs = 300_000): Promise<void> {
  const ends = (await endOffsets(admin, topic)) ?? [];
  const remaining = new Set(ends.map((_, partition) => partition).filter((partition) => ends[partition] > 0));
  if (remaining.size === 0) return;
  const consumer = kafka.consumer({
    groupId: `bench-reader-${randomUUID()}`,
    maxBytesPerPartition: 8 * 1024 * 1024,
    maxBytes: 64 * 1024 * 1024,
    maxWaitTimeInMs: 100,
    sessionTimeout: 30_000,
  });
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const reached = (partition: number, lastOffset: string | number) => {
    if (Number(lastOffset) + 1 >= ends[partition]) remaining.delete(partition);
    if (remaining.size === 0) finish();
  };
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => reached(payload.partition, payload.lastOffset));
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        onRecords(
          batch.messages.map((message) => ({
            partition: batch.partition,
            offset: Number(message.offset),
            key: message.key ? message.key.toString() : null,
            value: message.value,
            locate: (into: ChangelogEntry, header: Buffer, mark: Buffer) => locateFetched(message, into, header, mark),
          })),
        );
      },
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`reading ${topic} did not finish within ${timeoutMs / 1000} s (partitions left: ${[...remaining].join(', ')})`)), timeoutMs);
    });
    await Promise.race([done, timeout]).finally(() => clearTimeout(timer));
  } finally {
    await consumer.disconnect().catch(() => undefined);
  }
}

/** The latest value of every key of a table's changelog, decoded; deleted keys are absent. */
export async function readTable<T>(kafka: Kafka, admin: Admin, topic: string, decode: (bytes: Uint8Array) => T): Promise<Map<string, T>> {
  const latest = new Map<string, Buffer | null>();
  await readTopic(kafka, admin, topic, (records) => {
    for (const record of records) if (record.key !== null) latest.set(record.key, record.value);
  });
  const table = new Map<string, T>();
  for (const [key, value] of latest) if (value !== null) table.set(key, decode(value));
  return table;
}
