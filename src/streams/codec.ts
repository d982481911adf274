import { type DescField, type DescMessage, type MessageShape, ScalarType, create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { WireError, WireReader, WireType, WireWriter } from './wire.js';

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

/**
 * A codec for a protobuf-es message schema (generated `XxxSchema`).
 *
 * protobuf-es decides what the bytes of a message are; this codec only gets there faster for
 * the messages the streams carry. Each schema made of proto3 scalars (strings, bytes, bools,
 * 32- and 64-bit varint integers), open enums and repeated messages of the same kind is
 * compiled once into an encoder and a decoder over `wire.ts`. They give protobuf-es's bytes and
 * messages (src/contracts/topic-codecs.spec.ts compares the two on random values of every topic
 * of the service) at 0.3–0.9× its cost per call (docs/streams.md), and hand over to protobuf-es
 * whatever they do not read or write exactly as it does: unknown fields, text that is not ASCII,
 * a value of the wrong type, malformed bytes (whose error is then protobuf-es's). Any other
 * schema is protobuf-es's alone.
 */
export function protobufCodec<Desc extends DescMessage>(schema: Desc): Codec<MessageShape<Desc>> {
  const compiled = compile(schema, new Map());
  if (!compiled) return { encode: (value) => toBinary(schema, value), decode: (bytes) => fromBinary(schema, bytes) };
  return {
    encode(value) {
      try {
        compiled.write(writer, value as unknown as Fields);
        return writer.finish();
      } catch {
        writer.reset();
        return toBinary(schema, value);
      }
    },
    decode(bytes) {
      try {
        const reader = new WireReader(bytes);
        return compiled.read(reader, bytes.length) as unknown as MessageShape<Desc>;
      } catch {
        return fromBinary(schema, bytes);
      }
    },
  };
}

type Fields = Record<string, unknown> & { $typeName: string; $unknown?: unknown[] };

interface CompiledMessage {
  write(writer: WireWriter, message: Fields): void;
  read(reader: WireReader, end: number): Fields;
}

type FieldWriter = (writer: WireWriter, message: Fields) => void;
type FieldReader = (reader: WireReader, message: Fields) => void;

// Encoding is synchronous and one value at a time, so one scratch writer serves every codec.
const writer = new WireWriter();

// google.protobuf.FeatureSet.FieldPresence
const EXPLICIT = 1;
const IMPLICIT = 2;

/** The compiled form of a message, or undefined when it has a field this codec leaves to protobuf-es. */
function compile(desc: DescMessage, seen: Map<DescMessage, CompiledMessage | undefined>): CompiledMessage | undefined {
  if (seen.has(desc)) return seen.get(desc);
  const writers: FieldWriter[] = [];
  const readers = new Map<number, FieldReader>();
  // A new message is a copy of an empty one (as protobuf-es's `create` makes it, a plain object
  // with the defaults) with lists of its own: a fifth of what `create` costs.
  const empty = create(desc) as unknown as Fields;
  const lists = desc.fields.filter((field) => field.fieldKind === 'list').map((field) => field.localName);
  const compiled: CompiledMessage = {
    write(writer, message) {
      if (message.$typeName !== desc.typeName) throw new WireError(`not a ${desc.typeName}`);
      if (message.$unknown !== undefined && message.$unknown.length > 0) throw new WireError('unknown fields');
      for (let index = 0; index < writers.length; index++) writers[index](writer, message);
    },
    read(reader, end) {
      const message = { ...empty };
      for (let index = 0; index < lists.length; index++) message[lists[index]] = [];
      const outer = reader.end;
      reader.end = end;
      while (reader.pos < end) {
        const read = readers.get(reader.varint());
        if (read === undefined) throw new WireError('a field this codec does not read');
        read(reader, message);
      }
      reader.end = outer;
      return message;
    },
  };
  seen.set(desc, compiled);
  for (const field of [...desc.fields].sort((a, b) => a.number - b.number)) {
    const codec = compileField(field, seen);
    if (!codec) {
      seen.set(desc, undefined);
      return undefined;
    }
    writers.push(codec.write);
    readers.set(codec.tag, codec.read);
  }
  return compiled;
}

interface FieldCodec {
  tag: number;
  write: FieldWriter;
  read: FieldReader;
}

function compileField(field: DescField, seen: Map<DescMessage, CompiledMessage | undefined>): FieldCodec | undefined {
  if (field.oneof) return undefined;
  const name = field.localName;
  const number = field.number;
  if (field.fieldKind === 'list') {
    if (field.listKind !== 'message' || field.delimitedEncoding) return undefined;
    const element = compile(field.message, seen);
    if (!element) return undefined;
    return {
      tag: (number << 3) | WireType.LengthDelimited,
      write(writer, message) {
        const list = message[name];
        if (!Array.isArray(list)) throw new WireError(`${name} is not a list`);
        for (const item of list as Fields[]) {
          writer.tag(number, WireType.LengthDelimited).fork();
          element.write(writer, item);
          writer.join();
        }
      },
      read(reader, message) {
        (message[name] as Fields[]).push(element.read(reader, reader.fieldEnd()));
      },
    };
  }
  if (field.presence !== IMPLICIT && field.presence !== EXPLICIT) return undefined;
  const explicit = field.presence === EXPLICIT;
  if (field.fieldKind === 'enum') {
    if (!field.enum.open) return undefined;
    return scalarField(field, explicit, WireType.Varint, isZero, (writer, value) => writer.int32(checkInt32(value)), (reader) => reader.int32(true));
  }
  if (field.fieldKind !== 'scalar' || field.longAsString) return undefined;
  switch (field.scalar) {
    case ScalarType.STRING:
      return scalarField(field, explicit, WireType.LengthDelimited, (value) => value === '', (writer, value) => writer.ascii(checkType<string>(value, 'string')), (reader) => reader.ascii());
    case ScalarType.BYTES:
      return scalarField(
        field,
        explicit,
        WireType.LengthDelimited,
        (value) => value instanceof Uint8Array && value.length === 0,
        (writer, value) => {
          if (!(value instanceof Uint8Array)) throw new WireError('not bytes');
          writer.bytes(value);
        },
        (reader) => reader.bytes(),
      );
    case ScalarType.BOOL:
      return scalarField(field, explicit, WireType.Varint, (value) => value === false, (writer, value) => writer.bool(checkType<boolean>(value, 'boolean')), (reader) => reader.bool());
    case ScalarType.INT64:
    case ScalarType.UINT64: {
      const signed = field.scalar === ScalarType.INT64;
      return scalarField(field, explicit, WireType.Varint, (value) => value === 0n, (writer, value) => writer.int64(checkType<bigint>(value, 'bigint'), signed), (reader) => reader.int64(signed));
    }
    case ScalarType.INT32:
      return scalarField(field, explicit, WireType.Varint, isZero, (writer, value) => writer.int32(checkInt32(value)), (reader) => reader.int32(true));
    case ScalarType.UINT32:
      return scalarField(field, explicit, WireType.Varint, isZero, (writer, value) => writer.varint(checkUint32(value)), (reader) => reader.int32(false));
    default:
      return undefined;
  }
}

/**
 * A scalar or enum field of one wire type. With implicit presence a default value (zero, false,
 * empty) is not written; with explicit presence only an unset one is not.
 */
function scalarField(
  field: DescField,
  explicit: boolean,
  wireType: WireType,
  isDefault: (value: unknown) => boolean,
  write: (writer: WireWriter, value: unknown) => void,
  read: (reader: WireReader) => unknown,
): FieldCodec {
  const name = field.localName;
  const number = field.number;
  return {
    tag: (number << 3) | wireType,
    write(writer, message) {
      const value = message[name];
      if (explicit ? value === undefined : isDefault(value)) return;
      write(writer.tag(number, wireType), value);
    },
    read(reader, message) {
      message[name] = read(reader);
    },
  };
}

const isZero = (value: unknown) => value === 0;

function checkType<T>(value: unknown, type: 'string' | 'boolean' | 'bigint'): T {
  if (typeof value !== type) throw new WireError(`not a ${type}`);
  return value as T;
}

function checkInt32(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff) throw new WireError('not an int32');
  return value;
}

function checkUint32(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new WireError('not a uint32');
  return value;
}
