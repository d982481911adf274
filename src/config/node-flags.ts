/**
 * Options for node itself that the service is meant to run with: `npm start` gives them, and so
 * do the tests and the benchmarks when they start the service; the Docker image sets the same in
 * NODE_OPTIONS (and NODE_ENVIRONMENT below in its environment). Whoever runs `node dist/main.js`
 * or `node dist/processor.js` directly should pass them too. (V8 sizes a thread's young
 * generation when the thread starts, so the main thread's cannot be set from code, as the heap
 * flags in heap.ts are.)
 *
 * `--max-semi-space-size=32`: a young generation of twice V8's default on Node 20 and 22 (16 MB)
 * for the main thread (heap.ts gives the threads started later 16 MB). Under 1,000 clients the
 * HTTP thread holds a thousand requests in flight, and each young collection copies those still
 * waiting for Kafka; collecting half as often copies about half as much. `npm start` under 1,000
 * clients, interleaved pairs against V8's default: less CPU per deposit in four of six, one tie,
 * one loss (median about 10 % less), for ~30 MB more peak RSS. Every thread at 32 MB measured
 * about the same under HTTP load but cost ~65 MB more in B2 for nothing. See docs/streams.md.
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=32'];

/**
 * Environment that node's process must start with, for what reads it before any JavaScript runs:
 * given by the same starters as NODE_FLAGS, under whatever the caller's own environment already
 * sets (see {@link withNodeEnvironment}).
 *
 * `MALLOC_ARENA_MAX=2`: glibc gives each thread that calls malloc an arena of its own, up to eight
 * per core; the service's threads (HTTP and views, processor threads, libuv's pool doing LevelDB's
 * reads and writes, LevelDB's compaction, V8's helpers) each kept freed memory in theirs. Two
 * arenas: B2 (1,000,000 deposits) peaked at 446-474 MB in seven runs against 491-512 MB in nine,
 * at the same time and CPU; `npm start` under 1,000 clients, three interleaved pairs, the same
 * CPU per deposit (149 / 130 / 123 against 140 / 130 / 124 µs) for 325-338 against 336-364 MB
 * (docs/streams.md).
 */
export const NODE_ENVIRONMENT: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };

/** `env` with NODE_ENVIRONMENT's variables where it does not set them itself. */
export function withNodeEnvironment<T extends Record<string, string | undefined>>(env: T): T {
  return { ...NODE_ENVIRONMENT, ...env };
}
