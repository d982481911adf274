/**
 * Kafka's murmur2, the hash of its default partitioner (Java's `Utils.murmur2`), in 32-bit
 * integer arithmetic. kafkajs computes the same hash through its 64-bit `Long` class, which
 * allocates at every step: ~1 µs a key against ~0.06 µs here, and the API hashes every
 * deposit's wallet id (its partition; a replay's read token hashes it again).
 */
const SEED = 0x9747b28c;
const M = 0x5bd1e995;

/** The hash of `length` bytes of `data`, as a signed 32-bit integer (as Java's). */
export function murmur2(data: Uint8Array, length = data.length): number {
  let h = SEED ^ length;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    h = Math.imul(h, M) ^ Math.imul(k, M);
  }
  const rest = length & 3;
  if (rest > 0) {
    if (rest === 3) h ^= data[whole + 2] << 16;
    if (rest >= 2) h ^= data[whole + 1] << 8;
    h = Math.imul(h ^ data[whole], M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  return h ^ (h >>> 15);
}

const encoder = new TextEncoder();
let scratch = new Uint8Array(256);

/**
 * The partition of `key` among `count` partitions, as Kafka's default partitioner (Java's and
 * kafkajs's) chooses it, so that every producer of a key (API, processors, CLI) agrees: the
 * key's UTF-8 bytes hashed, the sign bit cleared, modulo the count.
 */
export function partitionFor(key: string, count: number): number {
  // A UTF-16 code unit takes at most 3 bytes of UTF-8.
  if (key.length * 3 > scratch.length) scratch = new Uint8Array(key.length * 3);
  const { written } = encoder.encodeInto(key, scratch);
  return (murmur2(scratch, written) & 0x7fffffff) % count;
}
