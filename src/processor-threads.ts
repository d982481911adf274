import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { LoggerService } from '@nestjs/common';
import type { ProcessorName } from './app.module.js';
import type { AppConfigShape } from './config/config.js';
import { type GroupSource, RemoteGroups } from './streams/index.js';

/** What a processor thread is handed when it starts. */
export interface ProcessorThreadData {
  index: number;
  processors: readonly ProcessorName[];
  dataDir: string;
  logFormat: AppConfigShape['log']['format'];
}

/** Lifecycle messages between the main thread and a processor thread. */
export type ThreadMessage = { kind: 'thread.started' } | { kind: 'thread.failed'; message: string } | { kind: 'thread.stop' };

/**
 * How many processor threads a process runs: the setting, or for `auto` one per core beside the
 * main thread where that adds parallelism. A process that serves the API keeps its main thread
 * for HTTP (cores − 1 threads); one without the API gains nothing from a single thread beside an
 * idle main thread, so it runs its groups on the main thread unless it has three cores or more.
 */
export function processorThreadCount(setting: number | 'auto', servesApi: boolean, cores = availableParallelism()): number {
  if (setting !== 'auto') return setting;
  if (servesApi) return Math.max(0, cores - 1);
  return cores >= 3 ? cores - 1 : 0;
}

/** A processor thread could not start; the message says why, in one line. */
export class ProcessorThreadError extends Error {}

/** The old generation of a processor thread's heap, in MB. */
const THREAD_HEAP_MB = 256;

/**
 * The processor groups on worker threads beside the main thread, which serves HTTP: Node runs
 * JavaScript on one thread per isolate, so this is how one process uses more than one core
 * (Kafka Streams' num.stream.threads). Each thread runs every chosen group as a member of its
 * consumer group, so the threads share the partitions as separate processes would; their
 * statuses reach health, metrics and the monitor of the main thread.
 *
 * A thread that dies stops the whole service (`onFailure`): never half a service running.
 */
export class ProcessorThreads {
  private readonly workers: Array<{ worker: Worker; exited: Promise<void> }> = [];
  private stopping = false;

  private constructor(private readonly logger: LoggerService) {}

  /** Starts `count` threads and resolves once each has joined its groups. */
  static async start(
    count: number,
    processors: readonly ProcessorName[],
    config: AppConfigShape,
    addGroups: (source: GroupSource) => void,
    logger: LoggerService,
    onFailure: (reason: string) => void,
  ): Promise<ProcessorThreads> {
    const threads = new ProcessorThreads(logger);
    try {
      await Promise.all(
        Array.from({ length: count }, (_, index) => {
          const data: ProcessorThreadData = {
            index,
            processors,
            // Thread 0 keeps the folder the service used before it had threads, so restarts stay warm.
            dataDir: index === 0 ? config.dataDir : join(config.dataDir, `thread-${index}`),
            logFormat: config.log.format,
          };
          return threads.spawn(data, addGroups, onFailure);
        }),
      );
    } catch (error) {
      await threads.stop(5000);
      throw error;
    }
    logger.log(`processor groups ${processors.join(', ')} running on ${count} worker thread${count === 1 ? '' : 's'}`, 'ProcessorThreads');
    return threads;
  }

  private spawn(data: ProcessorThreadData, addGroups: (source: GroupSource) => void, onFailure: (reason: string) => void): Promise<void> {
    const worker = new Worker(join(__dirname, 'processor-thread.js'), {
      workerData: data,
      name: `processors-${data.index}`,
      // V8 grows an unbounded heap lazily, so a thread held its batches' garbage for long: capped,
      // it collects sooner (B2: peak RSS 1,121 → 736 MB; the live set is ~100 MB).
      resourceLimits: { maxOldGenerationSizeMb: THREAD_HEAP_MB },
    });
    this.workers.push({ worker, exited: new Promise((resolve) => worker.once('exit', () => resolve())) });
    const groups = new RemoteGroups(worker, data.processors);
    addGroups(groups);
    return new Promise((resolve, reject) => {
      let started = false;
      worker.on('message', (message: ThreadMessage) => {
        if (message.kind === 'thread.started') {
          started = true;
          resolve();
        } else if (message.kind === 'thread.failed') {
          reject(new ProcessorThreadError(message.message));
        }
      });
      worker.on('error', (error) => {
        this.logger.error(`processor thread ${data.index} failed: ${error.stack ?? error.message}`, undefined, 'ProcessorThreads');
      });
      worker.on('exit', (code) => {
        groups.lost();
        if (!started) reject(new ProcessorThreadError(`processor thread ${data.index} exited with code ${code} while starting`));
        else if (!this.stopping) onFailure(`processor thread ${data.index} stopped unexpectedly (exit code ${code})`);
      });
    });
  }

  /** Asks every thread to finish its batches, commit and close its stores; waits up to `timeoutMs`. */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    await Promise.all(
      this.workers.map(async ({ worker, exited }) => {
        worker.postMessage({ kind: 'thread.stop' } satisfies ThreadMessage);
        const timer = setTimeout(() => void worker.terminate(), timeoutMs);
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}
