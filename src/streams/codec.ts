import { type DescField, type DescMessage, type MessageShape, ScalarType, create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { WireError, WireReader, WireType, WireWriter } from './wire.js';

/**
 * Turns values into bytes and back. Every value on every topic goes through one; the core
 * decodes before a handler runs and encodes after it.
 */
export interface Codec<T> {
  /** Encodes a value. */
  encode(value: T): Uint8Array;
  /**
   * Decodes `bytes`, those from `start` to `end` when given (a record's value within a fetched
   * response, read without a view of it); throws when they are not a valid encoding (the record
   * is then poison).
   */
  decode(bytes: Uint8Array, start?: number, end?: number): T;
}

/**
 * A codec for a protobuf-es message schema (generated `XxxSchema`).
 *
 * protobuf-es decides what the bytes of a message are; this codec only gets there faster for
 * the messages the streams carry. Each schema made of proto3 scalars (strings, bytes, bools,
 * 32- and 64-bit varint integers), open enums and repeated messages of the same kind is
 * compiled once into an encoder and a decoder over `wire.ts`. They give protobuf-es's bytes and
 * messages (src/contracts/topic-codecs.spec.ts compares the two on random values of every topic
 * of the service) at a fraction of its cost per call (docs/streams.md), and hand over to protobuf-es
 * whatever they do not read or write exactly as it does: unknown fields, text that is not ASCII,
 * a value of the wrong type, malformed bytes (whose error is then protobuf-es's). Any other
 * schema is protobuf-es's alone.
 */
export function protobufCodec<Desc extends DescMessage>(schema: Desc): Codec<MessageShape<Desc>> {
  const compiled = compile(schema, new Map());
  if (!compiled) return { encode: (value) => toBinary(schema, value), decode: (bytes, start, end) => fromBinary(schema, range(bytes, start, end)) };
  const codec: Codec<MessageShape<Desc>> & WritesInto<MessageShape<Desc>> = {
    writeInto(into, value) {
      const mark = into.mark();
      try {
        compiled.write(into, value as unknown as Fields);
      } catch {
        into.rewind(mark);
        into.raw(toBinary(schema, value));
      }
    },
    encode(value) {
      try {
        compiled.write(writer, value as unknown as Fields);
        return writer.finish();
      } catch {
        writer.reset();
        return toBinary(schema, value);
      }
    },
    decode(bytes, start = 0, end = bytes.length) {
      try {
        return compiled.read(reader.reset(bytes, start, end), end) as unknown as MessageShape<Desc>;
      } catch {
        return fromBinary(schema, range(bytes, start, end));
      }
    },
  };
  return codec;
}

/** A codec that can write a value's encoding into a writer someone else holds. */
interface WritesInto<T> {
  writeInto(writer: WireWriter, value: T): void;
}

/**
 * Writes `value`'s encoding into `writer` at its position (inside a field the caller opened):
 * a compiled codec writes it there, any other codec's bytes are copied in. Throws as `encode`
 * does, with nothing of the value written.
 */
export function encodeInto<T>(codec: Codec<T>, writer: WireWriter, value: T): void {
  const writes = (codec as Partial<WritesInto<T>>).writeInto;
  if (writes !== undefined) writes.call(codec, writer, value);
  else writer.raw(codec.encode(value));
}

const range = (bytes: Uint8Array, start = 0, end = bytes.length): Uint8Array => (start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end));

type Fields = Record<string, unknown> & { $typeName: string; $unknown?: unknown[] };

interface CompiledMessage {
  write(writer: WireWriter, message: Fields): void;
  read(reader: WireReader, end: number): Fields;
}

// Encoding and decoding are synchronous and one value at a time, so one scratch writer and one
// reader serve every codec.
const writer = new WireWriter();
const reader = new WireReader(new Uint8Array());

// google.protobuf.FeatureSet.FieldPresence
const EXPLICIT = 1;
const IMPLICIT = 2;

/** Source text of one field's encoding (`m` the message, `v` a scratch variable, `w` the writer) and decoding (`r` the reader). */
interface FieldSource {
  tag: number;
  write: string;
  read: string;
}

/**
 * The compiled form of a message, or undefined when it has a field this codec leaves to protobuf-es.
 *
 * Its encoder and decoder are JavaScript written for the schema and compiled with `new Function`
 * (as protobuf.js and fastify's serializers do), not closures shared by every field of every
 * message: a shared closure's `message[name]` saw every field name of every schema, which V8 turns
 * into a hash lookup per field. Generated, each field is read and written at a site of its own, and
 * a decoded message is one object literal, so all of a schema's messages share one shape
 * (docs/streams.md). The source holds the schema's field names and numbers and nothing else.
 */
function compile(desc: DescMessage, seen: Map<DescMessage, CompiledMessage | undefined>): CompiledMessage | undefined {
  if (seen.has(desc)) return seen.get(desc);
  // Filled in below: a message whose fields refer back to it (directly or not) calls it by this object.
  const compiled = {} as CompiledMessage;
  seen.set(desc, compiled);
  // What the generated code refers to (nested messages' codecs, default byte arrays), as `c[i]`.
  const constants: unknown[] = [];
  const constant = (value: unknown) => `c[${constants.push(value) - 1}]`;
  const fields: FieldSource[] = [];
  for (const field of [...desc.fields].sort((a, b) => a.number - b.number)) {
    const source = fieldSource(field, seen, constant);
    if (!source) {
      seen.set(desc, undefined);
      return undefined;
    }
    fields.push(source);
  }
  // A new message is what protobuf-es's `create` makes (a plain object with the defaults), with
  // lists of its own, written as one literal.
  const empty = create(desc) as unknown as Fields;
  const literal = Object.keys(empty).map((key) => `${JSON.stringify(key)}: ${defaultSource(empty[key], constant)}`);
  const typeName = JSON.stringify(desc.typeName);
  const writeSource = `function write(w, m) {
    if (m.$typeName !== ${typeName}) throw new WireError('not a ' + ${typeName});
    if (m.$unknown !== undefined && m.$unknown.length > 0) throw new WireError('unknown fields');
    let v;
    ${fields.map((field) => field.write).join('\n    ')}
  }`;
  const readSource = `function read(r, end) {
    const m = { ${literal.join(', ')} };
    const outer = r.end;
    r.end = end;
    while (r.pos < end) {
      switch (r.varint()) {
        ${fields.map((field) => `case ${field.tag}: ${field.read} break;`).join('\n        ')}
        default: throw new WireError('a field this codec does not read');
      }
    }
    r.end = outer;
    return m;
  }`;
  // Named in CPU profiles and stack traces after the message (bench/lib/profile.ts reads the name).
  const build = (source: string) =>
    new Function('c', 'WireError', `'use strict'; return ${source}\n//# sourceURL=codec:${desc.typeName}`)(constants, WireError) as never;
  try {
    compiled.write = build(writeSource);
    compiled.read = build(readSource);
  } catch {
    // Code generation disallowed (node --disallow-code-generation-from-strings): protobuf-es's.
    seen.set(desc, undefined);
    return undefined;
  }
  return compiled;
}

/** A default value as source: lists fresh for each message, other objects (empty bytes) shared, as `{ ...create(desc) }` would. */
function defaultSource(value: unknown, constant: (value: unknown) => string): string {
  if (Array.isArray(value)) return '[]';
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return JSON.stringify(value);
  return constant(value);
}

function fieldSource(field: DescField, seen: Map<DescMessage, CompiledMessage | undefined>, constant: (value: unknown) => string): FieldSource | undefined {
  if (field.oneof) return undefined;
  const name = JSON.stringify(field.localName);
  const number = field.number;
  if (field.fieldKind === 'list') {
    if (field.listKind !== 'message' || field.delimitedEncoding) return undefined;
    const element = compile(field.message, seen);
    if (!element) return undefined;
    const codec = constant(element);
    return {
      tag: (number << 3) | WireType.LengthDelimited,
      write:
        `v = m[${name}]; if (!Array.isArray(v)) throw new WireError(${JSON.stringify(`${field.localName} is not a list`)});` +
        ` for (let i = 0; i < v.length; i++) { w.tag(${number}, ${WireType.LengthDelimited}).fork(); ${codec}.write(w, v[i]); w.join(); }`,
      read: `m[${name}].push(${codec}.read(r, r.fieldEnd()));`,
    };
  }
  if (field.presence !== IMPLICIT && field.presence !== EXPLICIT) return undefined;
  const scalar = scalarSource(field);
  if (!scalar) return undefined;
  const unset = field.presence === EXPLICIT ? 'v === undefined' : scalar.isDefault;
  return {
    tag: (number << 3) | scalar.wireType,
    write: `v = m[${name}]; if (!(${unset})) { w.tag(${number}, ${scalar.wireType}); ${scalar.write} }`,
    read: `m[${name}] = ${scalar.read};`,
  };
}

/**
 * A scalar or enum field's value `v` as source: its wire type, whether it is the default (not
 * written with implicit presence), how it is checked and written, and how it is read.
 */
function scalarSource(field: DescField): { wireType: WireType; isDefault: string; write: string; read: string } | undefined {
  const int32 = "if (typeof v !== 'number' || !Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) throw new WireError('not an int32');";
  const typed = (type: string) => `if (typeof v !== '${type}') throw new WireError('not a ${type}');`;
  if (field.fieldKind === 'enum') {
    return field.enum.open ? { wireType: WireType.Varint, isDefault: 'v === 0', write: `${int32} w.int32(v);`, read: 'r.int32(true)' } : undefined;
  }
  if (field.fieldKind !== 'scalar' || field.longAsString) return undefined;
  switch (field.scalar) {
    case ScalarType.STRING:
      return { wireType: WireType.LengthDelimited, isDefault: "v === ''", write: `${typed('string')} w.ascii(v);`, read: 'r.ascii()' };
    case ScalarType.BYTES:
      return {
        wireType: WireType.LengthDelimited,
        isDefault: '(v instanceof Uint8Array && v.length === 0)',
        write: "if (!(v instanceof Uint8Array)) throw new WireError('not bytes'); w.bytes(v);",
        read: 'r.bytes()',
      };
    case ScalarType.BOOL:
      return { wireType: WireType.Varint, isDefault: 'v === false', write: `${typed('boolean')} w.bool(v);`, read: 'r.bool()' };
    case ScalarType.INT64:
    case ScalarType.UINT64: {
      const signed = field.scalar === ScalarType.INT64;
      return { wireType: WireType.Varint, isDefault: 'v === 0n', write: `${typed('bigint')} w.int64(v, ${signed});`, read: `r.int64(${signed})` };
    }
    case ScalarType.INT32:
      return { wireType: WireType.Varint, isDefault: 'v === 0', write: `${int32} w.int32(v);`, read: 'r.int32(true)' };
    case ScalarType.UINT32:
      return {
        wireType: WireType.Varint,
        isDefault: 'v === 0',
        write: "if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new WireError('not a uint32'); w.varint(v);",
        read: 'r.int32(false)',
      };
    default:
      return undefined;
  }
}
