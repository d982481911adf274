/**
 * How V8 collects garbage, for every thread of the process (the flags are process-wide). Imported
 * by every entry point before the rest is loaded.
 *
 * First, how far V8 lets a heap grow past what survived its last full collection before
 * collecting again.
 *
 * By default V8 lets it grow up to fourfold when the program allocates fast. The fetches and
 * batches this service handles die soon after they are promoted, so that slack held mostly
 * garbage: the main thread's heap, with ~64 MB live, reached 336 MB while its views restored.
 * With 50 %, peak RSS fell from ~600 to ~510 MB in B2 at the same CPU per deposit, and from ~490
 * to ~335 MB under 1,000 clients at about 5 % more CPU per request; 20 % saved a little more
 * memory and cost ~20 % more CPU under HTTP load (docs/streams.md). `--heap-growing-percent` on
 * node's command line overrides it (node refuses it in NODE_OPTIONS).
 */
import { setFlagsFromString } from 'node:v8';

const HEAP_GROWING_PERCENT = 50;
const WORKER_SEMI_SPACE_MB = 16;

// Options given on node's command line or in NODE_OPTIONS (the Docker image's way).
const given = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].join(' ');
if (!given.includes('heap-growing-percent')) setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);

/*
 * Young-generation collections (scavenges) run on the collecting thread alone, not with V8's
 * helper threads. Under 1,000 clients the HTTP thread's scavenges copy the requests in flight
 * (~3.4 MB survive each): done in parallel, each took ~14 ms on the thread and ~23 ms more on
 * the helpers, which compete for the same cores with the processor thread and the broker; alone,
 * ~15 ms on the thread and nothing else. Three interleaved pairs: 218-295 against 246-308 µs of
 * CPU per deposit, 2-11 % more deposits/s (docs/streams.md). Measured on 2 cores; where cores
 * are plenty, `--parallel-scavenge` on node's command line gives the helpers back.
 */
if (!given.includes('parallel-scavenge')) setFlagsFromString('--no-parallel-scavenge');

/*
 * The young generation of 32 MB semi-spaces that node's options give (node-flags.ts) is the main
 * thread's alone: V8 sized it when that thread started, and worker threads started from here on
 * get 16 MB semi-spaces. The HTTP thread's collections copy the requests in flight, which a
 * larger young generation copies half as often; a processor thread's copy the fetched batches,
 * and there it bought nothing for ~65 MB more in B2 (600 against 522-539 MB, docs/streams.md).
 * 16 MB is V8's default on Node 20 and 22, set here by number because V8's default moves with
 * Node: 64 MB on Node 24 (under 1,000 clients the service then peaked ~90 MB higher), 32 MB on
 * Node 26.
 */
setFlagsFromString(`--max-semi-space-size=${WORKER_SEMI_SPACE_MB}`);
