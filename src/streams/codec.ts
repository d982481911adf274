import { type DescMessage, type MessageShape, fromBinary, toBinary } from '@bufbuild/protobuf';

/**
 * Turns values into bytes and back. Every value on every topic goes through one; the core
 * decodes before a handler runs and encodes after it.
 */
export interface Codec<T> {
  /** Encodes a value. */
  encode(value: T): Uint8Array;
  /** Decodes bytes; throws when they are not a valid encoding (the record is then poison). */
  decode(bytes: Uint8Array): T;
}

/** A codec for a protobuf-es message schema (generated `XxxSchema`). */
export function protobufCodec<Desc extends DescMessage>(schema: Desc): Codec<MessageShape<Desc>> {
  return {
    encode: (value) => toBinary(schema, value),
    decode: (bytes) => fromBinary(schema, bytes),
  };
}
