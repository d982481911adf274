import type { StreamTopic, TableTopic } from './topics.js';

/**
 * What a handler sees of the record it handles and of the state of the record's key: the
 * second argument of every `@GroupHandler(group, topic)` handler, taken with `@Ctx()`.
 *
 * Everything a handler does through the context takes effect only when the handler returns:
 * if it throws, its value, store and emit calls are discarded as a whole.
 *
 * A context is the handler's until it returns (or its promise settles): the core sets the same
 * object to the batch's next record then, so a handler keeps nothing of it for later.
 */
export interface ProcessorContext<V> {
  /** The group the handler belongs to. */
  readonly group: string;
  /** The input topic of the record (logical name, as in the topic definition). */
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  /** The record's key: the key of the table value that {@link value} and {@link setValue} touch. */
  readonly key: string;
  /** The record's timestamp (Kafka's CreateTime), Unix ms. Event times belong in the payload. */
  readonly timestamp: number;

  /**
   * The key's current table value, `undefined` when the key has none yet. Treat it as
   * read-only unless you hand it back to {@link setValue}.
   */
  value(): V | undefined;

  /**
   * Replaces the key's table value. It is written to the local store and to the changelog
   * when the batch commits, together with the record's offset, so that a replay of this
   * record after a crash is recognised and skipped.
   */
  setValue(value: V): void;

  /**
   * Emits a message to a stream topic. Emits are produced before the table changes of the
   * batch, so a crash can repeat an emit but never lose one: make consumers of `topic`
   * idempotent. Throws when `topic` is not one of the group's `outputs`: a programming error,
   * which fails the record like any error the handler throws.
   */
  emit<T>(topic: StreamTopic<T>, key: string, value: T): void;

  /** One of the group's further stores, or a table it publishes to (`GroupDefinition.stores`, `published`), on this partition. */
  store<T>(store: TableTopic<T>): StoreAccess<T>;
}

/** A further store of a group, as seen by a handler. */
export interface StoreAccess<T> {
  /**
   * The value under `key`, including what handlers put earlier in the same batch. Synchronous,
   * as `value()` is: a local read (LevelDB's block cache, else its files). Not for a published table.
   */
  get(key: string): T | undefined;
  /** Puts a value under `key` when the handler returns. Not for a published table. */
  put(key: string, value: T): void;
  /**
   * Writes a value under `key` to the table's changelog when the handler returns, for views
   * only: the group keeps no copy and never reads the changelog back, not even to restore (a
   * history that only the API reads grows with every event; the group's restoration need not).
   * Counted once like everything else the batch writes. Only for the group's published tables
   * (`defineGroup`'s `published`, write-once); throws for any other.
   */
  publish(key: string, value: T): void;
}

/**
 * Thrown by a handler for a record that can never be processed (invalid content): the record
 * goes to the dead-letter topic `<topic>.dlq` and the partition moves on. Any other error is
 * taken as transient: the record is retried, with backoff, until it succeeds.
 */
export class PoisonRecordError extends Error {
  override readonly name = 'PoisonRecordError';
}

/** The message of whatever a handler threw. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'object' && error !== null && 'message' in error) return String(error.message);
  return String(error);
}
