/**
 * The little of protobuf's wire format that the core reads and writes by hand, over Buffers:
 * varints, 64-bit varints as bigints, ASCII strings and length-delimited fields. protobuf-es
 * allocates per call what these reuse (a 128-byte writer buffer, a DataView, an array per tag),
 * and every record of every group goes through them (see `codec.ts`, `store-batch.ts`).
 *
 * Readers throw `WireError` on anything they do not read exactly as protobuf-es would (a
 * truncated field, a varint too long, a string that is not ASCII); callers that can hand the
 * bytes to protobuf-es instead do so.
 */

export const WireType = { Varint: 0, Bit64: 1, LengthDelimited: 2, Bit32: 5 } as const;
export type WireType = (typeof WireType)[keyof typeof WireType];

export class WireError extends Error {}

const TWO_TO_32 = 4294967296;
// Below 2^53 a 64-bit value is exact as a number, which is cheaper to make a bigint from.
const SAFE_HIGH_WORD = 0x200000;
const MIN_INT64 = -(2n ** 63n);
const MAX_INT64 = 2n ** 63n - 1n;
const MAX_UINT64 = 2n ** 64n - 1n;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
// V8 keeps typed arrays up to this size on its heap; a larger one costs a native allocation of
// its own (~1 µs), which Buffer's pool spares.
const ON_HEAP_BYTES = 64;

const asBuffer = (input: Uint8Array): Buffer => (Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength));

export class WireReader {
  pos = 0;
  /** The low and high 32 bits of the last `varint64`. */
  private low = 0;
  private high = 0;

  buffer: Buffer;

  constructor(
    private input: Uint8Array,
    public end = input.length,
  ) {
    this.buffer = asBuffer(input);
  }

  /**
   * Reads `input` from `start` to `end` (all of it by default), as a new reader would: one reader
   * serves values read one at a time.
   */
  reset(input: Uint8Array, start = 0, end = input.length): this {
    this.input = input;
    this.buffer = asBuffer(input);
    this.pos = start;
    this.end = end;
    return this;
  }

  /** A varint of up to 32 bits (tags and lengths). */
  varint(): number {
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (this.pos >= this.end) throw new WireError('truncated varint');
      const byte = this.buffer[this.pos++];
      value |= (byte & 0x7f) << shift;
      if (byte < 0x80) return value >>> 0;
    }
    throw new WireError('varint too long');
  }

  /** Reads a length-delimited field's length; returns where its bytes end (they start at `pos`). */
  fieldEnd(): number {
    const end = this.varint() + this.pos;
    if (end > this.end) throw new WireError('truncated field');
    return end;
  }

  /** Moves past a length-delimited field's bytes; returns where they start (they end at `pos`). */
  field(): number {
    const end = this.fieldEnd();
    const start = this.pos;
    this.pos = end;
    return start;
  }

  /** A length-delimited field of ASCII text. */
  ascii(): string {
    const start = this.field();
    const buffer = this.buffer;
    for (let index = start; index < this.pos; index++) if (buffer[index] > 0x7f) throw new WireError('not ASCII');
    return buffer.toString('latin1', start, this.pos);
  }

  /** A length-delimited field's bytes: a view into the input, as protobuf-es gives them. */
  bytes(): Uint8Array {
    const start = this.field();
    return this.input.subarray(start, this.pos);
  }

  /** A varint of up to 64 bits, as a signed (int64) or unsigned (uint64) bigint. */
  int64(signed: boolean): bigint {
    this.varint64();
    const { low, high } = this;
    if (high < SAFE_HIGH_WORD) return BigInt(high * TWO_TO_32 + low);
    const value = (BigInt(high) << 32n) | BigInt(low);
    return signed ? BigInt.asIntN(64, value) : value;
  }

  /** A varint read as protobuf's 32-bit types read it: its low 32 bits, signed or not. */
  int32(signed: boolean): number {
    this.varint64();
    return signed ? this.low | 0 : this.low;
  }

  bool(): boolean {
    this.varint64();
    return this.low !== 0 || this.high !== 0;
  }

  /** Moves past a field of an unknown number, by its wire type. */
  skip(tag: number): void {
    switch (tag & 7) {
      case WireType.Varint:
        this.varint64();
        break;
      case WireType.Bit64:
        this.pos += 8;
        break;
      case WireType.LengthDelimited:
        this.field();
        break;
      case WireType.Bit32:
        this.pos += 4;
        break;
      default:
        throw new WireError(`unexpected wire type ${tag & 7}`);
    }
    if (this.pos > this.end) throw new WireError('truncated field');
  }

  private varint64(): void {
    let low = 0;
    let high = 0;
    const buffer = this.buffer;
    for (let index = 0; index < 10; index++) {
      if (this.pos >= this.end) throw new WireError('truncated varint');
      const byte = buffer[this.pos++];
      if (index < 4) low |= (byte & 0x7f) << (7 * index);
      else if (index === 4) {
        low |= (byte & 0x0f) << 28;
        high = (byte & 0x7f) >> 4;
      } else high |= (byte & 0x7f) << (7 * index - 32);
      if (byte < 0x80) {
        this.low = low >>> 0;
        this.high = high >>> 0;
        return;
      }
    }
    throw new WireError('varint too long');
  }
}

/**
 * Writes into one growing scratch buffer and copies each finished value out, so that encoding a
 * small value allocates the value and nothing else. Not reentrant: one value at a time.
 */
export class WireWriter {
  private buffer = Buffer.allocUnsafe(4096);
  private pos = 0;
  /** Where each open length-delimited field's content starts. */
  private readonly forks: number[] = [];

  /** The bytes written since the last `finish`, in an array of their own. */
  finish(): Uint8Array {
    let out: Uint8Array;
    if (this.pos <= ON_HEAP_BYTES) {
      out = new Uint8Array(this.pos);
      for (let index = 0; index < this.pos; index++) out[index] = this.buffer[index];
    } else {
      out = Buffer.allocUnsafe(this.pos);
      this.buffer.copy(out, 0, 0, this.pos);
    }
    this.pos = 0;
    this.forks.length = 0;
    return out;
  }

  /** Forgets what was written since the last `finish` (after a failed encoding). */
  reset(): void {
    this.pos = 0;
    this.forks.length = 0;
  }

  /** Where the next byte goes: {@link rewind} forgets what is written after it. */
  mark(): number {
    return this.pos;
  }

  /** Forgets what was written since `mark` (after a failed encoding), fields opened since included. */
  rewind(mark: number): void {
    this.pos = mark;
    // A field opened after the mark starts after it (fork() moves past a length byte first).
    while (this.forks.length > 0 && this.forks[this.forks.length - 1] > mark) this.forks.pop();
  }

  /** Bytes written as they are (an encoded message inside a length-delimited field). */
  raw(value: Uint8Array): this {
    this.reserve(value.length);
    this.buffer.set(value, this.pos);
    this.pos += value.length;
    return this;
  }

  tag(fieldNo: number, wireType: WireType): this {
    return this.varint(((fieldNo << 3) | wireType) >>> 0);
  }

  /** An unsigned varint of up to 32 bits. */
  varint(value: number): this {
    this.reserve(5);
    while (value > 0x7f) {
      this.buffer[this.pos++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    this.buffer[this.pos++] = value;
    return this;
  }

  /** An int32 or enum value: negative ones take ten bytes, sign-extended to 64 bits. */
  int32(value: number): this {
    return value >= 0 ? this.varint(value) : this.varint64(value >>> 0, 0xffffffff);
  }

  /** An int64 (`signed`) or uint64 value; throws when it does not fit. */
  int64(value: bigint, signed: boolean): this {
    if (value >= 0n && value <= MAX_SAFE) {
      const number = Number(value);
      return this.varint64(number >>> 0, Math.floor(number / TWO_TO_32));
    }
    if (signed ? value < MIN_INT64 || value > MAX_INT64 : value < 0n || value > MAX_UINT64) throw new WireError('64-bit value out of range');
    const bits = BigInt.asUintN(64, value);
    return this.varint64(Number(bits & 0xffffffffn), Number(bits >> 32n));
  }

  bool(value: boolean): this {
    this.reserve(1);
    this.buffer[this.pos++] = value ? 1 : 0;
    return this;
  }

  /** ASCII text, length-delimited; throws on any other character (callers fall back then). */
  ascii(value: string): this {
    const length = value.length;
    this.varint(length);
    this.reserve(length);
    const buffer = this.buffer;
    let pos = this.pos;
    for (let index = 0; index < length; index++) {
      const code = value.charCodeAt(index);
      if (code > 0x7f) throw new WireError('not ASCII');
      buffer[pos++] = code;
    }
    this.pos = pos;
    return this;
  }

  /** UTF-8 text, length-delimited. */
  string(value: string): this {
    const length = Buffer.byteLength(value);
    this.varint(length);
    this.reserve(length);
    this.pos += this.buffer.write(value, this.pos, 'utf8');
    return this;
  }

  bytes(value: Uint8Array): this {
    return this.varint(value.length).raw(value);
  }

  /** Opens a length-delimited field (a message); `join` closes it. */
  fork(): this {
    // One byte for the length, which is usually enough; `join` makes room when not.
    this.reserve(1);
    this.pos++;
    this.forks.push(this.pos);
    return this;
  }

  join(): this {
    const start = this.forks.pop()!;
    const length = this.pos - start;
    let width = 1;
    while (length >= 2 ** (7 * width)) width++;
    if (width > 1) {
      this.reserve(width - 1);
      this.buffer.copyWithin(start + width - 1, start, this.pos);
      this.pos += width - 1;
    }
    let at = start - 1;
    let rest = length;
    for (let index = 1; index < width; index++) {
      this.buffer[at++] = (rest & 0x7f) | 0x80;
      rest >>>= 7;
    }
    this.buffer[at] = rest;
    return this;
  }

  private varint64(low: number, high: number): this {
    this.reserve(10);
    const buffer = this.buffer;
    while (high > 0 || low > 0x7f) {
      buffer[this.pos++] = (low & 0x7f) | 0x80;
      low = ((low >>> 7) | (high << 25)) >>> 0;
      high >>>= 7;
    }
    buffer[this.pos++] = low;
    return this;
  }

  private reserve(bytes: number): void {
    if (this.pos + bytes <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.pos + bytes));
    this.buffer.copy(grown, 0, 0, this.pos);
    this.buffer = grown;
  }
}
