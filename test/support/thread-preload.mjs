// Preloaded into the service by the process-layout test (NODE_OPTIONS="--import <this file>"),
// as an operator preloads an agent or a profiler: it says on which thread node ran it.
import { threadId } from 'node:worker_threads';

process.stdout.write(`preloaded on thread ${threadId}\n`);
