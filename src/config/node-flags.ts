/**
 * Options for node itself that the service is meant to run with: `npm start` gives them, and so
 * do the tests and the benchmarks when they start the service; the Docker image sets the same in
 * NODE_OPTIONS. Whoever runs `node dist/main.js` or `node dist/processor.js` directly should pass
 * them too. (V8 sizes a thread's young generation when the thread starts, so the main thread's
 * cannot be set from code, as the heap flags in heap.ts are.)
 *
 * `--max-semi-space-size=32`: a young generation of twice V8's default (16 MB) for every thread.
 * Under 1,000 clients the HTTP thread holds a thousand requests in flight, and each young
 * collection copies those still waiting for Kafka; collecting half as often copies about half as
 * much. `npm start` under 1,000 clients, six interleaved pairs: 226-300 against 273-323 µs of CPU
 * per deposit (median 272 against 310), 13-20 % more deposits/s in five of them, for ~60 MB more
 * peak RSS (~370 against ~305 MB). See docs/streams.md.
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=32'];
