import { setTimeout as sleep } from 'node:timers/promises';
import type { Admin } from 'kafkajs';

/** Whether Kafka (or kafkajs) says the error is transient: a retry may succeed. */
export function isTransient(error: unknown): boolean {
  for (let cause = error as { retriable?: boolean; cause?: unknown } | undefined; cause; cause = cause.cause as typeof cause) {
    if (cause.retriable === true) return true;
  }
  return false;
}

/**
 * Runs `operation` again, with a growing pause, while it fails with a transient Kafka error
 * (a topic just created whose leader the broker does not know yet, a moving leader).
 */
export async function retryTransient<T>(operation: () => Promise<T>, attempts = 15): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      if (attempt >= attempts || !isTransient(error)) throw error;
      await sleep(Math.min(100 * attempt, 1000));
    }
  }
}

/**
 * The offsets of a topic's partitions (`admin.fetchTopicOffsets`), tried again while Kafka says
 * a failure is transient.
 *
 * The views and partitions of a process share one admin client, and kafkajs's metadata cache is
 * not safe under concurrent use: on a cluster, a refresh begun for fewer topics can land after
 * the one that added this topic, and fetchTopicOffsets then finds no partitions and fails with a
 * TypeError. The next try refreshes the metadata, so that failure is transient too.
 */
export function topicOffsets(admin: Pick<Admin, 'fetchTopicOffsets'>, topic: string, attempts?: number): ReturnType<Admin['fetchTopicOffsets']> {
  return retryTransient(async () => {
    try {
      return await admin.fetchTopicOffsets(topic);
    } catch (error) {
      if (error instanceof TypeError) throw Object.assign(new Error(`no metadata for ${topic} yet`, { cause: error }), { retriable: true });
      throw error;
    }
  }, attempts);
}
