/**
 * Options for node itself that the service is meant to run with: `npm start` gives them, and so
 * do the tests and the benchmarks when they start the service; the Docker image sets the same in
 * NODE_OPTIONS. Whoever runs `node dist/main.js` or `node dist/processor.js` directly should pass
 * them too. (V8 sizes a thread's young generation when the thread starts, so the main thread's
 * cannot be set from code, as the heap flags in heap.ts are.)
 *
 * `--max-semi-space-size=32`: a young generation of twice V8's default (16 MB) for the main
 * thread (heap.ts gives the threads started later V8's default again). Under 1,000 clients the
 * HTTP thread holds a thousand requests in flight, and each young collection copies those still
 * waiting for Kafka; collecting half as often copies about half as much. `npm start` under 1,000
 * clients, interleaved pairs against V8's default: less CPU per deposit in four of six, one tie,
 * one loss (median about 10 % less), for ~30 MB more peak RSS. Every thread at 32 MB measured
 * about the same under HTTP load but cost ~65 MB more in B2 for nothing. See docs/streams.md.
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=32'];
