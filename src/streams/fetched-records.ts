import type { KafkaMessage } from 'kafkajs';
import type { InputRecord, InputRecords } from './batch.js';
import type { Codec } from './codec.js';
import { decodeFetchedValue, fetchedKeyText, fetchedOffset, fetchedTimestamp } from './kafkajs-records.js';

/**
 * A fetched batch's records as the batch processor reads them: one record object, set to each
 * message in turn, whose key (as text) and value are read from the message when asked. A batch
 * of tens of thousands of records lives while it is processed and committed, and an object per
 * record was copied by every young-generation collection meanwhile.
 */
export class FetchedRecords implements InputRecords {
  private readonly cursor: FetchedInput;

  constructor(
    topic: string,
    partition: number,
    private readonly messages: readonly KafkaMessage[],
  ) {
    this.cursor = new FetchedInput(topic, partition);
  }

  get length(): number {
    return this.messages.length;
  }

  at(index: number): InputRecord | undefined {
    const message = this.messages[index];
    return message && this.cursor.set(message);
  }
}

/**
 * One fetched message as an input record. Offset and time are read from the message when first
 * asked (NaN until then, which keeps both fields plain numbers): the batch's first pass over its
 * records asks each for its key only.
 */
class FetchedInput implements InputRecord {
  private message?: KafkaMessage;
  private offsetRead = Number.NaN;
  private timestampRead = Number.NaN;

  constructor(
    readonly topic: string,
    readonly partition: number,
  ) {}

  set(message: KafkaMessage): this {
    this.message = message;
    this.offsetRead = Number.NaN;
    this.timestampRead = Number.NaN;
    return this;
  }

  get offset(): number {
    if (Number.isNaN(this.offsetRead)) this.offsetRead = fetchedOffset(this.message!);
    return this.offsetRead;
  }

  get timestamp(): number {
    if (Number.isNaN(this.timestampRead)) this.timestampRead = fetchedTimestamp(this.message!);
    return this.timestampRead;
  }

  get key(): string | null {
    return fetchedKeyText(this.message!);
  }

  get value(): Buffer | null {
    return this.message!.value;
  }

  decodeValue<T>(codec: Codec<T>): T {
    return decodeFetchedValue(this.message!, codec);
  }
}
