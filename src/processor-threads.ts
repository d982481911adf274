import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { AppConfigShape } from './config/app-config.js';
import type { ProcessorName } from './service-options.js';
import { type GroupSource, RemoteGroups } from './streams/group-port.js';

/** What a processor thread is handed when it starts. */
export interface ProcessorThreadData {
  index: number;
  processors: readonly ProcessorName[];
  /** The thread's niceness (0: as the process's); see AppConfigShape.processorThreadNice. */
  nice: number;
  /**
   * The configuration the main thread validated, with this thread's data folder: the thread
   * does not read it again (it would load class-validator to do so, and its log format would
   * follow its own stdout, which is no terminal).
   */
  config: AppConfigShape;
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
export class ProcessorThreadError extends Error {
  override readonly name = 'ProcessorThreadError';
}

/** The old generation of a processor thread's heap, in MB. */
const THREAD_HEAP_MB = 256;

/**
 * The processor groups on worker threads beside the main thread, which serves HTTP: Node runs
 * JavaScript on one thread per isolate, so this is how one process uses more than one core
 * (Kafka Streams' num.stream.threads). Each thread runs every chosen group as a member of its
 * consumer group, so the threads share the partitions as separate processes would; their
 * statuses reach health, metrics and the monitor of the main thread.
 *
 * This module imports no Nest and no Kafka client: launch.ts starts the threads before the main
 * thread loads the rest of the service, so that both load theirs at once.
 *
 * A thread that dies stops the whole service (`onFailure`): never half a service running.
 */
export class ProcessorThreads {
  /** Each thread's groups, as health, metrics and the monitor of the main thread read them. */
  readonly sources: GroupSource[] = [];
  /** Settles once every thread has joined its groups; rejects (all threads stopped) when one could not. */
  readonly started: Promise<void>;
  private readonly workers: Array<{ worker: Worker; exited: Promise<void> }> = [];
  private stopping = false;
  private failure?: string;
  private failed?: (reason: string) => void;

  private constructor(
    readonly count: number,
    readonly processors: readonly ProcessorName[],
    config: AppConfigShape,
    nice: number,
  ) {
    const spawned = Array.from({ length: count }, (_, index) =>
      this.spawn({
        index,
        processors,
        nice,
        // Thread 0 keeps the folder the service used before it had threads, so restarts stay warm.
        config: { ...config, dataDir: index === 0 ? config.dataDir : join(config.dataDir, `thread-${index}`) },
      }),
    );
    this.started = Promise.all(spawned).then(
      () => undefined,
      async (error: unknown) => {
        await this.stop(5000);
        throw error;
      },
    );
    // Awaited by the caller, maybe only after a rejection: that is no unhandled rejection.
    this.started.catch(() => undefined);
  }

  /**
   * Spawns `count` threads; they boot and join their groups while the caller goes on, and lower
   * themselves to niceness `nice` once their partitions are restored (processor-thread.ts).
   */
  static start(count: number, processors: readonly ProcessorName[], config: AppConfigShape, nice = 0): ProcessorThreads {
    return new ProcessorThreads(count, processors, config, nice);
  }

  /** Calls `handler` once when a started thread dies (at once if one died already). */
  onFailure(handler: (reason: string) => void): void {
    this.failed = handler;
    if (this.failure) handler(this.failure);
  }

  private spawn(data: ProcessorThreadData): Promise<void> {
    // It loads processor-thread.js through V8's code cache (code-cache.ts), as launch.ts loads the rest.
    const worker = new Worker(join(__dirname, 'processor-thread-loader.js'), {
      workerData: data,
      name: `processors-${data.index}`,
      // V8 grows an unbounded heap lazily, so a thread held its batches' garbage for long: capped,
      // it collects sooner (B2: peak RSS 1,121 → 736 MB; the live set is ~100 MB).
      resourceLimits: { maxOldGenerationSizeMb: THREAD_HEAP_MB },
    });
    this.workers.push({ worker, exited: new Promise((resolve) => worker.once('exit', () => resolve())) });
    const groups = new RemoteGroups(worker, data.processors);
    this.sources.push(groups);
    return new Promise((resolve, reject) => {
      let started = false;
      let crash = '';
      worker.on('message', (message: ThreadMessage) => {
        if (message.kind === 'thread.started') {
          started = true;
          resolve();
        } else if (message.kind === 'thread.failed') {
          reject(new ProcessorThreadError(message.message));
        }
      });
      worker.on('error', (error) => {
        crash = `: ${error.stack ?? error.message}`;
      });
      worker.on('exit', (code) => {
        groups.lost();
        if (!started) reject(new ProcessorThreadError(`processor thread ${data.index} exited with code ${code} while starting${crash}`));
        else if (!this.stopping) this.fail(`processor thread ${data.index} stopped unexpectedly (exit code ${code})${crash}`);
      });
    });
  }

  private fail(reason: string): void {
    if (this.failure) return;
    this.failure = reason;
    this.failed?.(reason);
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
