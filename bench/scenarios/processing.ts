/**
 * B2 (processing from empty stores), with B4 (cold restore) and B5 (restarts with local data)
 * on the tables B2 built; B3 (hot keys), B6 (SIGKILL halfway) and Growth reuse the same run.
 */
import { rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { type BenchEnv, type ServiceProcess, groupTransactions, processUsage, splitByThread, threadsCpuSeconds } from '../lib/env';
import { PARTITIONS, createStreamTopic, produceDeposits, serviceLag, waitForZeroLag } from '../lib/kafka';
import { produceProbes, waitUntilProcessed, waitUntilRestored } from '../lib/probes';
import { Expectation, verifyTables } from '../lib/verify';
import { Workload } from '../lib/workload';

export interface ProcessingOptions {
  count: number;
  wallets: number;
  roundRobin?: boolean;
  seed: number;
  /** Extra environment for the processor (e.g. NODE_OPTIONS=--cpu-prof). */
  processorEnv?: Record<string, string>;
  /** Called on every lag sample while processing: ms since the processor started, each group's lag. */
  onSample?: (elapsedMs: number, lag: Record<string, number>) => void;
  /** How often lag is sampled, in ms [100]. */
  sampleMs?: number;
  /** SIGKILL the processor once the balance group has committed this many records. */
  killAt?: number;
  /** Partitions of every topic [6]. */
  partitions?: number;
  timeoutMs?: number;
}

export interface ProcessingRun {
  prefix: string;
  dataDir: string;
  expectation: Expectation;
  /** Still running (idle) unless the caller stops it. */
  processor: ServiceProcess;
  prefillSeconds: number;
  /** From spawning the processor to every group's committed lag 0. */
  seconds: number;
  /** The part of it before the first commit: the process starting, joining, restoring. */
  startupSeconds: number;
  /** CPU time of the processor after its start-up, to lag 0. */
  processingCpuSeconds: number;
  peakRssMb: number;
  cpuSeconds: number;
  /** The same CPU time by thread: main (the views), processor (the groups), the others. */
  threadCpuSeconds: { main: number; processor: number; others: number };
  /** From the processor's own metrics at lag 0 (MB): V8 heap used and total, and memory outside it (buffers, LevelDB, …). */
  memory?: { heapUsedMb: number; heapTotalMb: number; externalMb: number; rssMb: number };
  /** With killAt: when the first processor was killed (s after it started), and the second one's time to lag 0. */
  killedAfterSeconds?: number;
  /** With killAt: what the killed processor wrote before it was killed. */
  killedOutput?: string[];
  /** Kafka transactions the processor committed, from its metrics at lag 0. */
  transactions?: number;
  /** TCP connections from the processor to the broker, at lag 0. */
  brokerConnections: number;
}

/** Prefills `deposit`, starts one processor with all groups on empty stores, waits for lag 0. */
export async function processOnce(env: BenchEnv, name: string, options: ProcessingOptions): Promise<ProcessingRun> {
  const prefix = env.prefix(name);
  const workload = new Workload(options.count, options.wallets, { seed: options.seed, roundRobin: options.roundRobin });
  const depositTopic = `${prefix}deposit`;
  const partitions = options.partitions ?? PARTITIONS;
  await createStreamTopic(env.admin, depositTopic, partitions);
  const { seconds: prefillSeconds } = await produceDeposits(env.kafka, depositTopic, options.count, workload.spec, { partitions });
  const dataDir = env.dataDir(name);
  const processorEnv = { KAFKA_PARTITIONS: String(partitions), ...options.processorEnv };
  let processor = await env.main({ prefix, dataDir, env: processorEnv });
  const timeoutMs = options.timeoutMs ?? 900_000;
  let killedAfterSeconds: number | undefined;
  let killedOutput: string[] | undefined;
  if (options.killAt !== undefined) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      processor.assertAlive();
      const lag = await serviceLag(env.admin, prefix).catch(() => ({ balance: -1 }));
      if (lag.balance >= 0 && options.count - lag.balance >= options.killAt) break;
      if (Date.now() > deadline) throw new Error(`the balance group did not reach ${options.killAt} records`);
      await sleep(20);
    }
    await processor.stop('SIGKILL');
    killedAfterSeconds = (Date.now() - processor.startedAt) / 1000;
    killedOutput = processor.process.output.slice();
    processor = await env.main({ prefix, dataDir, env: processorEnv }, 'service (after SIGKILL)');
  }
  const started = processor.startedAt;
  const current = processor;
  // The last sample before the balance group's first commit ends the start-up.
  let startup = { at: started, cpuSeconds: 0 };
  let initialLag: number | undefined;
  let progressed = false;
  const doneAt = await waitForZeroLag(env.admin, prefix, timeoutMs, () => current.assertAlive(), options.sampleMs ?? 100, (lag) => {
    const at = Date.now();
    if (lag.balance >= 0 && !progressed) {
      initialLag ??= lag.balance;
      if (lag.balance < initialLag) progressed = true;
      else startup = { at, cpuSeconds: processUsage(current.pid).cpuSeconds };
    }
    options.onSample?.(at - started, lag);
  });
  const usage = processor.usage();
  const threadCpuSeconds = splitByThread(threadsCpuSeconds(processor.pid), processor.pid, usage.cpuSeconds);
  const brokerConnections = env.brokerConnections(processor.pid);
  const metrics = await processor.text('/metrics').catch(() => undefined);
  const metric = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics ?? '')?.[1] ?? NaN);
  const mb = (name: string) => metric(name) / 2 ** 20;
  const memory = metrics === undefined ? undefined : {
    heapUsedMb: mb('nodejs_heap_size_used_bytes'),
    heapTotalMb: mb('nodejs_heap_size_total_bytes'),
    externalMb: mb('nodejs_external_memory_bytes'),
    rssMb: mb('process_resident_memory_bytes'),
  };
  return {
    memory,
    prefix,
    dataDir,
    expectation: new Expectation(workload),
    processor,
    prefillSeconds,
    seconds: (doneAt - started) / 1000,
    startupSeconds: (startup.at - started) / 1000,
    processingCpuSeconds: usage.cpuSeconds - startup.cpuSeconds,
    peakRssMb: usage.peakRssMb,
    cpuSeconds: usage.cpuSeconds,
    threadCpuSeconds,
    killedAfterSeconds,
    killedOutput,
    transactions: metrics === undefined ? undefined : groupTransactions(metrics),
    brokerConnections,
  };
}

export interface RestartFigures {
  coldRestoreSeconds: number;
  /** From the same start to /health/ready: the API's views restored too. */
  coldReadySeconds: number;
  restoredRecords: number;
  restoreOnlySeconds: number;
  sigtermStopSeconds: number;
  afterSigtermSeconds: number;
  afterSigkillSeconds: number;
}

/**
 * B4 and B5 on the tables of a finished B2 run: stop, delete DATA_DIR, start (cold restore, until
 * ready); SIGTERM, write probes, start (warm, until the probes are processed); the same after SIGKILL.
 * The caller verifies the tables afterwards (the probes are in the expectation).
 */
export async function restarts(env: BenchEnv, run: ProcessingRun, rep: number): Promise<RestartFigures> {
  const depositTopic = `${run.prefix}deposit`;
  await run.processor.stop('SIGTERM');
  rmSync(run.dataDir, { recursive: true, force: true });
  const cold = await env.main({ prefix: run.prefix, dataDir: run.dataDir }, 'service (cold restore)');
  const restored = await waitUntilRestored(cold);
  // B5 restarts a service with its local data whole: the API's views (the history holds a record
  // per deposit) finish restoring seconds after the groups do, and a service stopped before that
  // finishes their restore on its next start.
  const ready = await cold.waitFor('/health/ready');

  const stopping = Date.now();
  await cold.stop('SIGTERM');
  const sigtermStopSeconds = (Date.now() - stopping) / 1000;
  const probes = await produceProbes(env.kafka, depositTopic, `term${rep}`, run.expectation);
  const afterTerm = await env.main({ prefix: run.prefix, dataDir: run.dataDir }, 'service (after SIGTERM)');
  const termAt = await waitUntilProcessed(afterTerm, probes);

  await afterTerm.stop('SIGKILL');
  await produceProbes(env.kafka, depositTopic, `kill${rep}`, run.expectation);
  const afterKill = await env.main({ prefix: run.prefix, dataDir: run.dataDir }, 'service (after SIGKILL)');
  const killAt = await waitUntilProcessed(afterKill, probes);
  run.processor = afterKill;
  return {
    coldRestoreSeconds: (restored.at - cold.startedAt) / 1000,
    coldReadySeconds: (ready - cold.startedAt) / 1000,
    restoredRecords: restored.records,
    restoreOnlySeconds: restored.restoreSeconds,
    sigtermStopSeconds,
    afterSigtermSeconds: (termAt - afterTerm.startedAt) / 1000,
    afterSigkillSeconds: (killAt - afterKill.startedAt) / 1000,
  };
}

/** A failed verification in a line: how many wallets, the first three, and what the processors warned of. */
export function wrongWallets(verdict: Awaited<ReturnType<typeof verifyAndClean>>): string {
  return [`${verdict.wrong} wallets wrong: ${verdict.problems.slice(0, 3).join('; ')}`, ...verdict.said].join('\n');
}

/** Waits for lag 0, checks every wallet, stops the processor and drops the run's topics and data. */
export async function verifyAndClean(env: BenchEnv, run: ProcessingRun) {
  await waitForZeroLag(env.admin, run.prefix, 300_000, () => run.processor.assertAlive());
  const verdict = await verifyTables(env.kafka, env.admin, run.prefix, run.expectation);
  // A wrong wallet is a bug to find: what the processors said goes with it (at LOG_LEVEL=info,
  // which the CI-sized bench uses, their joins, restorations and commits of partitions too).
  const logged = (lines: string[], when: string) => lines.filter((line) => /"level":"(info|warn|error|fatal)"/.test(line)).map((line) => `${when}: ${line}`);
  const said = verdict.ok ? [] : [...logged(run.killedOutput ?? [], 'before SIGKILL'), ...logged(run.processor.process.output, 'service')].slice(-200);
  await run.processor.stop('SIGTERM');
  rmSync(run.dataDir, { recursive: true, force: true });
  await env.dropTopics(run.prefix);
  return { ...verdict, said };
}
