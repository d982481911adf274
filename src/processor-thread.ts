/**
 * A processor thread: the chosen processor groups, started by the main thread of
 * `dist/main.js` or `dist/processor.js` (see processor-threads.ts); not run by hand.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { describeStartupFailure, runProcessorsOnThread } from './bootstrap.js';
import type { ProcessorThreadData, ThreadMessage } from './processor-threads.js';

if (!parentPort) throw new Error('processor-thread.js runs as a worker thread of the service');
const port = parentPort;
runProcessorsOnThread(workerData as ProcessorThreadData, port).catch((error: unknown) => {
  port.postMessage({ kind: 'thread.failed', message: describeStartupFailure(error) } satisfies ThreadMessage);
  process.exit(1);
});
