import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Admin, Kafka, logLevel } from 'kafkajs';

export const brokers = () => process.env.KAFKA_BROKERS!.split(',');

/** A kafkajs client for assertions, silent. */
export const testKafka = () => new Kafka({ brokers: brokers(), clientId: 'e2e', logLevel: logLevel.NOTHING });

/** A topic and group prefix no other test run shares. */
export const uniquePrefix = (name: string) => `${name}-${randomUUID().slice(0, 8)}-`;

/** Polls `check` until it returns true, or fails after `timeoutMs` with `what`. */
export async function eventually(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(200);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/**
 * Creates topics and waits until the broker knows their leaders. A KRaft broker learns of a new
 * topic a little after the controller answered, and kafkajs's `waitForLeaders` gives up on the
 * UNKNOWN_TOPIC_OR_PARTITION it meanwhile answers (seen on a broker just started).
 */
export async function createTopics(admin: Admin, topics: Parameters<Admin['createTopics']>[0]['topics']): Promise<void> {
  await admin.createTopics({ topics, waitForLeaders: false });
  const names = topics.map(({ topic }) => topic);
  await eventually(`the leaders of ${names.join(', ')}`, async () => {
    const metadata = await admin.fetchTopicMetadata({ topics: names }).catch(() => undefined);
    return metadata?.topics.every((topic) => topic.partitions.length > 0 && topic.partitions.every((partition) => partition.leader >= 0)) ?? false;
  });
}

/** Records of `topic` not yet committed by consumer group `groupId` (every partition); pass an admin from `logEndAdmin`. */
export async function groupLag(admin: Admin, groupId: string, topic: string): Promise<number> {
  const [ends, [committed]] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId, topics: [topic] })]);
  return ends.reduce((lag, end) => {
    const done = Number(committed.partitions.find((partition) => partition.partition === end.partition)?.offset ?? -1);
    return lag + Number(end.high) - Math.max(0, done);
  }, 0);
}

/** The end offset of every partition of `topic` (the log's end, with an admin from `logEndAdmin`). */
export async function endOffsets(admin: Admin, topic: string): Promise<Map<number, number>> {
  return new Map((await admin.fetchTopicOffsets(topic)).map(({ partition, high }) => [partition, Number(high)]));
}
