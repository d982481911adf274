/**
 * The file a processor thread starts from (processor-threads.ts): it loads the thread's bundle,
 * processor-thread.js, through V8's code cache (code-cache.ts), as launch.ts loads bootstrap.js.
 * A file rather than an eval string, because node runs its `--require` and `--import` preloads
 * (NODE_OPTIONS included: a profiler, an APM agent) only in threads started from a file.
 */
import { join } from 'node:path';
import { requireBundle } from './code-cache.js';

requireBundle(join(__dirname, 'processor-thread.js'));
