/**
 * npm run bench:original — ours and the original Go/Goka service in one run, on one broker:
 * B1 (POST /deposit), B7 (GET /check) and B2 (processing from empty stores), every part of each
 * running. The original is not in this repository: build its `service` and `processor` from its
 * public source and name their folder (docs/benchmarks-history.md, "Side by side with the original").
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import type { Admin } from 'kafkajs';
import { BenchEnv, processUsage } from './lib/env';
import { type LoadResult, closedLoop, depositBody } from './lib/http';
import { type GroupInputs, endOffsets, produceRecords, serviceLag } from './lib/kafka';
import { processOnce, verifyAndClean } from './scenarios/processing';
import { FLOORS } from './scenarios/reads';
import { Workload, random } from './lib/workload';

const HELP = `Usage: npm run bench:original -- --original DIR [options]

Runs, on one broker (its own Kafka, instance "bench", unless --brokers), in turns:
  B1  POST /deposit, 20 s at 100 and at 1,000 connections (ours as npm start runs it; the
      original's service with its processor running), then B7: GET /check, 15 s, same counts,
      and the same reads on servers that answer a fixed body (bench/lib/floor-server.mjs)
  B2  1M deposits over 100k wallets on 6 partitions, every group from empty stores to lag 0
and prints, per system: rates, latencies, failures, CPU per deposit of the service's
processes and of the broker, peak RSS.

The original's processor keeps its stores in /tmp/goka (Goka's default): it is deleted before
each of its runs. Its HTTP port is 8080, which must be free.

Options:
  --original DIR    folder with the original's service and processor binaries (required)
  --reps N          repetitions [3]
  --scale F         multiply sizes and durations by F [1]
  --brokers LIST    use this Kafka instead of starting one (host:port,…)
  -h, --help`;

const PARTITIONS = 6;
const ORIGINAL_URL = 'http://127.0.0.1:8080';
const GOKA_STORAGE = '/tmp/goka';
/** The original's groups and their inputs; its topics are unprefixed. */
const ORIGINAL_GROUPS: GroupInputs = [
  ['balance', ['deposit']],
  ['threshold', ['deposit']],
  ['flagger', ['flag_wallet']],
];
const ORIGINAL_TABLES = ['balance-table', 'threshold-table', 'flagger-table'];

interface Running {
  url: string;
  pids: number[];
  /** A deposit of 12.34 as the system takes it. */
  depositBody(walletId: string): string;
  stop(): Promise<void>;
}

interface Row {
  system: string;
  what: string;
  figures: string;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      original: { type: 'string' },
      reps: { type: 'string' },
      scale: { type: 'string' },
      brokers: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const bin = values.original ? resolve(values.original) : undefined;
  if (!bin || !['service', 'processor'].every((name) => existsSync(join(bin, name)))) {
    throw new Error('--original must name a folder with the original\'s service and processor binaries (see --help)');
  }
  const reps = Number(values.reps ?? 3);
  const scale = Number(values.scale ?? 1);
  const log = (line: string) => console.error(`[side-by-side] ${line}`);
  const env = await BenchEnv.start({ rootDir: process.cwd(), brokers: values.brokers, port: 29092, scratchDir: '/tmp/depositaja-side-by-side', log });
  const rows: Row[] = [];
  const report = (row: Row) => {
    rows.push(row);
    log(`${row.system}, ${row.what}: ${row.figures}`);
  };
  try {
    for (let rep = 1; rep <= reps; rep++) {
      for (const connections of [100, 1000]) {
        for (const system of ['ours', 'original'] as const) {
          const running = system === 'ours' ? await startOurs(env) : await startOriginal(env.admin, bin, env.brokers);
          try {
            const deposits = await measured(env, running.pids, () => depositLoad(running, connections, 20 * scale, rep));
            report({ system, what: `B1, ${connections} conn., run ${rep}`, figures: deposits });
            const reads = await measured(env, running.pids, () => readLoad(running.url, connections, 15 * scale, rep));
            report({ system, what: `B7, ${connections} conn., run ${rep}`, figures: reads });
          } finally {
            await running.stop();
          }
        }
        for (const floor of FLOORS) {
          const server = await env.benchServer(`floor-${floor.kind}`, 'bench/lib/floor-server.mjs', [floor.kind]);
          try {
            await server.waitFor('/check/w0');
            const reads = await measured(env, [server.pid], () => readLoad(server.url, connections, 15 * scale, rep));
            report({ system: `floor: ${floor.label}`, what: `B7, ${connections} conn., run ${rep}`, figures: reads });
          } finally {
            await server.stop();
          }
        }
      }
      const count = Math.round(1_000_000 * scale);
      const wallets = Math.round(100_000 * scale);
      report({ system: 'ours', what: `B2, run ${rep}`, figures: await oursB2(env, count, wallets, rep) });
      report({ system: 'original', what: `B2, run ${rep}`, figures: await originalB2(env, bin, count, wallets, rep) });
    }
  } finally {
    await env.close();
  }
  console.log('| system | run | figures |\n| --- | --- | --- |');
  for (const row of rows) console.log(`| ${row.system} | ${row.what} | ${row.figures} |`);
}

/** Runs `load` and adds the CPU it cost the processes `pids` and the broker, per 2xx answer. */
async function measured(env: BenchEnv, pids: number[], load: () => Promise<LoadResult>): Promise<string> {
  const cpu = (of: number[]) => of.reduce((sum, pid) => sum + processUsage(pid).cpuSeconds, 0);
  const service = cpu(pids);
  const broker = cpu(env.brokerPids());
  const result = await load();
  const perAnswer = (seconds: number) => `${Math.round((seconds / Math.max(1, result.ok)) * 1e6)} µs`;
  const rss = pids.map((pid) => processUsage(pid).peakRssMb.toFixed(0)).join(' + ');
  return (
    `${Math.round(result.okPerSecond).toLocaleString('en')} 2xx/s, p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, ` +
    `${result.failed} failed (${result.timeouts} timeouts); CPU per 2xx: service ${perAnswer(cpu(pids) - service)}, ` +
    `broker ${perAnswer(cpu(env.brokerPids()) - broker)}; peak RSS ${rss} MB`
  );
}

function depositLoad(running: Running, connections: number, durationSeconds: number, rep: number) {
  const next = random(100 + rep);
  return closedLoop({
    url: running.url,
    connections,
    durationSeconds,
    method: 'POST',
    next: () => ({ path: '/deposit', body: running.depositBody(`w${Math.floor(next() * 100_000)}`), context: undefined }),
  });
}

function readLoad(url: string, connections: number, durationSeconds: number, rep: number) {
  const next = random(200 + rep);
  return closedLoop({ url, connections, durationSeconds, method: 'GET', next: () => ({ path: `/check/w${Math.floor(next() * 100_000)}`, context: undefined }) });
}

async function startOurs(env: BenchEnv): Promise<Running> {
  const prefix = env.prefix('side');
  // As npm start runs it: its default log level, every request logged.
  const service = await env.main({ prefix, dataDir: env.dataDir('side'), env: { LOG_LEVEL: 'info' }, keepLines: 20 });
  await service.waitFor('/health/ready');
  return {
    url: service.url,
    pids: [service.pid],
    depositBody: (walletId) => depositBody(walletId, 1234),
    stop: async () => {
      await service.stop();
      await env.dropTopics(prefix);
    },
  };
}

/** The original's service and its three processors, on fresh topics and empty stores. */
async function startOriginal(admin: Admin, bin: string, brokers: string): Promise<Running> {
  await freshOriginalTopics(admin);
  const processor = runOriginal(bin, 'processor', ['-broker', brokers, '-collector', '-detector', '-flagger']);
  const service = runOriginal(bin, 'service', ['-broker', brokers]);
  for (let waited = 0; ; waited += 100) {
    if (service.exitCode !== null || processor.exitCode !== null) throw new Error('the original exited at start (is port 8080 free?)');
    if (await fetch(`${ORIGINAL_URL}/check/w0`).then((response) => response.ok, () => false)) break;
    if (waited > 60_000) throw new Error('the original did not answer on port 8080 within 60 s');
    await sleep(100);
  }
  // Nothing tells when its processors have joined their groups: a few seconds do.
  await sleep(5000);
  return {
    url: ORIGINAL_URL,
    pids: [service.pid!, processor.pid!],
    // It takes the amount as a JSON number; ours as a decimal string (SPEC).
    depositBody: (walletId) => `{"wallet_id":"${walletId}","amount":12.34}`,
    stop: () => stopAll([service, processor]),
  };
}

function runOriginal(bin: string, name: string, args: string[]): ChildProcess {
  return spawn(join(bin, name), args, { stdio: 'ignore' });
}

async function stopAll(children: ChildProcess[]): Promise<void> {
  for (const child of children) {
    if (child.exitCode !== null) continue;
    const exited = new Promise((done) => child.once('exit', done));
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(10_000).then(() => child.kill('SIGKILL'))]);
  }
}

/**
 * The original's topics, new: its README has them created beforehand (Goka would create its
 * tables with two replicas, which one broker refuses); its groups and local stores, gone.
 */
async function freshOriginalTopics(admin: Admin): Promise<void> {
  const names = ['deposit', 'flag_wallet', ...ORIGINAL_TABLES];
  const existing = new Set(await admin.listTopics());
  const old = names.filter((name) => existing.has(name));
  if (old.length > 0) await admin.deleteTopics({ topics: old });
  await admin.deleteGroups(ORIGINAL_GROUPS.map(([group]) => group)).catch(() => undefined);
  rmSync(GOKA_STORAGE, { recursive: true, force: true });
  for (let attempt = 0; ; attempt++) {
    try {
      await admin.createTopics({
        waitForLeaders: true,
        topics: names.map((topic) => ({
          topic,
          numPartitions: PARTITIONS,
          configEntries: ORIGINAL_TABLES.includes(topic) ? [{ name: 'cleanup.policy', value: 'compact' }] : [],
        })),
      });
      return;
    } catch (error) {
      // A deleted topic takes a moment to be gone.
      if (attempt > 50) throw error;
      await sleep(200);
    }
  }
}

async function oursB2(env: BenchEnv, count: number, wallets: number, rep: number): Promise<string> {
  const run = await processOnce(env, 'side-b2', { count, wallets, seed: 1000 + rep });
  const verdict = await verifyAndClean(env, run);
  const exact = verdict.ok ? `all ${verdict.wallets.toLocaleString('en')} wallets exact` : `${verdict.wrong} of ${verdict.wallets} wallets WRONG`;
  return `${run.seconds.toFixed(1)} s to lag 0, ${run.cpuSeconds.toFixed(1)} CPU-s (${((run.cpuSeconds / count) * 1e6).toFixed(1)} µs per deposit), peak RSS ${run.peakRssMb.toFixed(0)} MB; ${exact}`;
}

/** B2 for the original: the same workload in its format and partitioning, its processor from empty stores to lag 0. */
async function originalB2(env: BenchEnv, bin: string, count: number, wallets: number, rep: number): Promise<string> {
  await freshOriginalTopics(env.admin);
  const workload = new Workload(count, wallets, { seed: 1000 + rep });
  await produceRecords(env.kafka, 'deposit', count, (index) => {
    const walletId = workload.walletId(workload.wallet[index]);
    return { key: walletId, value: originalDeposit(walletId, workload.amount[index] / 100), partition: gokaPartition(walletId, PARTITIONS) };
  });
  // Goka starts a new group's input streams at their newest offsets: set to the oldest, as an operator would.
  for (const [groupId, [topic]] of ORIGINAL_GROUPS) {
    await env.admin.setOffsets({ groupId, topic, partitions: Array.from({ length: PARTITIONS }, (_, partition) => ({ partition, offset: '0' })) });
  }
  const processor = runOriginal(bin, 'processor', ['-broker', env.brokers, '-collector', '-detector', '-flagger']);
  const started = Date.now();
  try {
    // Its detector emits one flag event per deposit: done when the flagger has them all too.
    for (;;) {
      if (processor.exitCode !== null) throw new Error('the original processor exited');
      if (Date.now() - started > 900_000) throw new Error('the original did not reach lag 0 within 15 min');
      await sleep(100);
      const lag = Object.values(await serviceLag(env.admin, '', ORIGINAL_GROUPS));
      if (lag.every((records) => records === 0) && (await total(env.admin, 'flag_wallet')) >= count) break;
    }
    const seconds = (Date.now() - started) / 1000;
    const { cpuSeconds, peakRssMb } = processUsage(processor.pid!);
    return `${seconds.toFixed(1)} s to lag 0, ${cpuSeconds.toFixed(1)} CPU-s (${((cpuSeconds / count) * 1e6).toFixed(1)} µs per deposit), peak RSS ${peakRssMb.toFixed(0)} MB`;
  } finally {
    await stopAll([processor]);
  }
}

async function total(admin: Admin, topic: string): Promise<number> {
  return ((await endOffsets(admin, topic)) ?? []).reduce((sum, high) => sum + high, 0);
}

/** The original's Deposit { string wallet_id = 1; double amount = 2; } in protobuf's wire format. */
function originalDeposit(walletId: string, amount: number): Buffer {
  const bytes = new BinaryWriter().tag(1, WireType.LengthDelimited).string(walletId).tag(2, WireType.Bit64).double(amount).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Goka's partitioner: FNV-1a (32-bit) of the key, as a signed number, modulo the partitions, made positive (sarama's hash partitioner). */
function gokaPartition(key: string, partitions: number): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(key)) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return Math.abs((hash | 0) % partitions);
}

main().catch((error: unknown) => {
  console.error(`side-by-side: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
