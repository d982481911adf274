/**
 * A processor thread: the chosen processor groups, started by the main thread of
 * `dist/main.js` or `dist/processor.js` (see processor-threads.ts); not run by hand. No HTTP: its
 * groups' statuses go to the main thread over its port, and the main thread says when to stop.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { NestFactory } from '@nestjs/core';
import { Logger } from 'nestjs-pino';
import { saveCodeCaches } from './code-cache.js';
import type { ProcessorThreadData, ThreadMessage } from './processor-threads.js';
import { ProcessorsModule } from './processors.module.js';
import { describeStartupFailure } from './startup-failure.js';
import { type GroupSource, StreamsRuntime, type ThreadPort, serveGroups, startStreams } from './streams/index.js';

/**
 * Gives this thread (not the process) the niceness `nice`: on Linux, setpriority on a thread id
 * applies to that thread alone. Its groups work in batches that a few milliseconds' wait does not
 * hurt, while every request the HTTP thread waits for a core waits with it: under load on two
 * cores, HTTP first took more deposits/s in 9 of 10 pairs (docs/streams.md). Done once the groups have
 * restored their partitions at start, which the views on the main thread do at the same time
 * (and by then the threads this one makes, libuv's pool among them, exist: a thread inherits its
 * creator's niceness). Niceness only goes up without privileges, so restorations after a
 * rebalance run at it. Returns why it could not, if it could not.
 */
function lowerPriority(nice: number): string | undefined {
  if (nice === 0) return undefined;
  try {
    // "<pid>/task/<tid>"; Linux only.
    setPriority(Number(readlinkSync('/proc/thread-self').split('/').at(-1)), nice);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** Resolves once every group has joined and runs every partition it was given. */
function whenRestored(groups: GroupSource): Promise<void> {
  const restored = () => groups.statuses().every((group) => group.running && group.partitions.every((partition) => partition.state === 'running'));
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      if (!restored()) return;
      clearInterval(timer);
      resolve();
    }, 100);
    timer.unref();
  });
}

async function runProcessors(data: ProcessorThreadData, port: ThreadPort): Promise<void> {
  const app = await NestFactory.createApplicationContext(ProcessorsModule.forRoot(data.config, data.processors), { bufferLogs: true });
  app.useLogger(app.get(Logger));
  await startStreams(app);
  const groups = app.get(StreamsRuntime).localGroups;
  const stopServing = serveGroups(groups, port);
  void whenRestored(groups).then(() => {
    const notLowered = lowerPriority(data.nice);
    if (notLowered) app.get(Logger).debug(`processor thread ${data.index} keeps the process's priority (${notLowered})`, 'ProcessorThread');
  });
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
