/**
 * A processor thread: the chosen processor groups, started by the main thread of
 * `dist/main.js` or `dist/processor.js` (see processor-threads.ts); not run by hand. No HTTP: its
 * groups' statuses go to the main thread over its port, and the main thread says when to stop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { NestFactory } from '@nestjs/core';
import { Logger } from 'nestjs-pino';
import { saveCodeCaches } from './code-cache.js';
import type { ProcessorThreadData, ThreadMessage } from './processor-threads.js';
import { ProcessorsModule } from './processors.module.js';
import { describeStartupFailure } from './startup-failure.js';
import { StreamsRuntime, type ThreadPort, serveGroups, startStreams } from './streams/index.js';

async function runProcessors(data: ProcessorThreadData, port: ThreadPort): Promise<void> {
  const app = await NestFactory.createApplicationContext(ProcessorsModule.forRoot(data.config, data.processors), { bufferLogs: true });
  app.useLogger(app.get(Logger));
  await startStreams(app);
  const stopServing = serveGroups(app.get(StreamsRuntime).localGroups, port);
  port.on('message', (message) => {
    if ((message as ThreadMessage).kind !== 'thread.stop') return;
    void app.close().then(
      () => {
        stopServing();
        process.exit(0);
      },
      (error: unknown) => {
        app.get(Logger).error(`stop failed: ${String(error)}`, undefined, 'Shutdown');
        process.exit(1);
      },
    );
  });
  port.postMessage({ kind: 'thread.started' } satisfies ThreadMessage);
  saveCodeCaches();
}

if (!parentPort) throw new Error('processor-thread.js runs as a worker thread of the service');
const port = parentPort;
runProcessors(workerData as ProcessorThreadData, port).catch((error: unknown) => {
  port.postMessage({ kind: 'thread.failed', message: describeStartupFailure(error) } satisfies ThreadMessage);
  process.exit(1);
});
