/**
 * How far V8 lets a heap grow past what survived its last full collection before collecting
 * again, for every thread of the process (the flag is process-wide). Imported by every entry
 * point before the rest is loaded.
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

if (!process.execArgv.join(' ').includes('heap-growing-percent')) {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
