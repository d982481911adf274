import { setTimeout as sleep } from 'node:timers/promises';

/** Whether Kafka (or kafkajs) says the error is transient: a retry may succeed. */
export function isTransient(error: unknown): boolean {
  for (let cause = error as { retriable?: boolean; cause?: unknown } | undefined; cause; cause = cause.cause as typeof cause) {
    if (cause.retriable === true) return true;
  }
  return false;
}

/** The Kafka error type of an error or of what caused it (kafkajs wraps errors it gives up on); '' when none says. */
export function causeType(error: unknown): string {
  for (let cause = error as { type?: string; cause?: unknown } | undefined; cause; cause = cause.cause as typeof cause) {
    if (cause.type) return cause.type;
  }
  return '';
}

/**
 * Runs `operation` again, with a growing pause (`pauseMs` after each attempt), while it fails
 * with a transient Kafka error (a topic just created whose leader the broker does not know yet,
 * a moving leader).
 */
export async function retryTransient<T>(operation: () => Promise<T>, attempts = 15, pauseMs = (attempt: number) => Math.min(100 * attempt, 1000)): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      if (attempt >= attempts || !isTransient(error)) throw error;
      await sleep(pauseMs(attempt));
    }
  }
}
