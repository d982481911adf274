/**
 * B1 ingest: POST /deposit under autocannon (closed loop) against the service as `npm start`
 * runs it (dist/main.js: the API on the main thread, the groups on a processor thread, info
 * logs) and split in two processes (API, processor), at each number of connections, each run
 * after a warm-up of the same load on the same process (its figures reported apart). Per run:
 * the rate, latencies, refusals and timeouts, how long the processors take to catch up once the
 * load stops, and the CPU each process spent per 1,000 accepted deposits. At the numbers of
 * connections `keyedConnections` names, the `npm start` layout runs once more with an
 * Idempotency-Key on every deposit, as the README asks clients to send. Verified: every 2xx's
 * deposit is on the topic with its wallet and amount, and every wallet's balance and flag.
 */
import { topics } from '../../src/contracts/topic-map';
import type { BenchEnv, ServiceProcess } from '../lib/env';
import { groupTransactions, processUsage, splitByThread, threadsCpuSeconds } from '../lib/env';
import { type LoadResult, closedLoop, depositBody } from '../lib/http';
import { readTopic, waitForZeroLag } from '../lib/kafka';
import { type Figure, type ScenarioResult, newResult, record } from '../lib/results';
import { Expectation, verifyTables } from '../lib/verify';
import { MAX_AMOUNT_MINOR, random, walletName } from '../lib/workload';

export type IngestLayout = 'default' | 'split';

export interface IngestOptions {
  reps: number;
  connections: readonly number[];
  durationSeconds: number;
  /**
   * Seconds of the same load before each measured run, reported apart: V8 compiles the request
   * path during a process's first seconds under load (README, *Warm-up*), and a service is
   * measured as it runs once it has, not as it runs while it still does.
   */
  warmUpSeconds: number;
  wallets: number;
  layouts: readonly IngestLayout[];
  /**
   * Numbers of connections at which the `npm start` layout also runs with a fresh
   * Idempotency-Key on every deposit: a keyed deposit costs the API a lookup in its view of the
   * balance group's keys, and the groups a store of keys each.
   */
  keyedConnections: readonly number[];
  /** The raw kafkajs producer rate measured in this run (rec/s), the ceiling. */
  produceCeiling?: number;
}

/**
 * The original's figures: its service with its three processors running, side by side with ours
 * on one broker on 2026-12-01 (`npm run bench:original`, medians of 3).
 */
const ORIGINAL: Record<number, { rate: number; p99: number }> = { 100: { rate: 944, p99: 119 }, 1000: { rate: 7323, p99: 205 } };

/** Issue 11's goal at 1,000 connections: 1.5× the original's share of the raw producer, that is 1.5× its rate. */
const GOAL_OVER_ORIGINAL = 1.5;

const LAYOUT_NAMES: Record<IngestLayout, string> = { default: 'npm start', split: 'API + processor.js' };

/** One measured run's shape: a layout, and whether every deposit carries an Idempotency-Key. */
interface Variant {
  layout: IngestLayout;
  keyed: boolean;
  name: string;
}

function variantsAt(connections: number, options: IngestOptions): Variant[] {
  const variants: Variant[] = options.layouts.map((layout) => ({ layout, keyed: false, name: LAYOUT_NAMES[layout] }));
  if (options.keyedConnections.includes(connections)) variants.push({ layout: 'default', keyed: true, name: `${LAYOUT_NAMES.default}, keyed` });
  return variants;
}

interface Processes {
  /** Every process of the layout, by the name its CPU is reported under. */
  parts: Array<{ name: string; process: ServiceProcess }>;
  api: ServiceProcess;
}

export interface SentDeposit {
  walletId: string;
  amountMinor: number;
  sentAtMs: number;
}

/**
 * B1's load: `connections` clients, each posting its next deposit (a wallet random over
 * `wallets`, a random amount; `keyed`: with an Idempotency-Key of its own) when the last is
 * answered. Returns a run of it for a number of seconds; successive runs carry on the same
 * random sequence.
 */
export function depositLoad(options: {
  url: string;
  connections: number;
  wallets: number;
  seed: number;
  keyed?: boolean;
  onSent?: (sent: SentDeposit) => void;
  onResponse?: (status: number, body: string, sent: SentDeposit) => void;
}): (durationSeconds: number) => Promise<LoadResult> {
  const next = random(options.seed);
  let sentCount = 0;
  return (durationSeconds) =>
    closedLoop<SentDeposit>({
      url: options.url,
      connections: options.connections,
      durationSeconds,
      method: 'POST',
      next: () => {
        const sent = { walletId: walletName(Math.floor(next() * options.wallets)), amountMinor: 1 + Math.floor(next() * MAX_AMOUNT_MINOR), sentAtMs: Date.now() };
        options.onSent?.(sent);
        const headers = options.keyed ? { 'idempotency-key': `bench-${options.seed}-${++sentCount}` } : undefined;
        return { path: '/deposit', body: depositBody(sent.walletId, sent.amountMinor), headers, context: sent };
      },
      ...(options.onResponse ? { onResponse: options.onResponse } : {}),
    });
}

export async function startLayout(env: BenchEnv, layout: IngestLayout, prefix: string, extraEnv: Record<string, string> = {}): Promise<Processes> {
  // Info logs, as shipped; the bench keeps only the last lines of each process's output.
  const spec = (name: string) => ({ prefix, dataDir: env.dataDir(`b1-${name}`), env: { LOG_LEVEL: 'info', ...extraEnv }, keepLines: 2000 });
  if (layout === 'default') {
    const service = await env.main(spec('service'));
    await service.waitFor('/health/ready');
    return { parts: [{ name: 'service', process: service }], api: service };
  }
  const api = await env.api(spec('api'));
  const processor = await env.processor(spec('processor'));
  await Promise.all([api.waitFor('/health/ready'), processor.waitFor('/health/ready')]);
  return { parts: [{ name: 'API', process: api }, { name: 'processor', process: processor }], api };
}

/** CPU seconds so far: each process of the layout, the default layout's threads, the broker and the load generator. */
interface CpuSnapshot {
  parts: Record<string, number>;
  /** The default layout's process, thread by thread. */
  threads?: Map<number, number>;
}

function cpuNow(env: BenchEnv, layout: IngestLayout, processes: Processes): CpuSnapshot {
  const parts: Record<string, number> = {};
  for (const { name, process } of processes.parts) {
    // A part that died says so, with its last lines, rather than as a missing /proc entry.
    process.assertAlive();
    parts[name] = processUsage(process.pid).cpuSeconds;
  }
  parts.broker = env.brokerPids().reduce((sum, pid) => {
    try {
      return sum + processUsage(pid).cpuSeconds;
    } catch (error) {
      throw new Error(`the broker's process ${pid} is gone: ${(error as Error).message}`);
    }
  }, 0);
  // autocannon runs in this process: its CPU is what the load itself costs the machine.
  const { user, system } = process.cpuUsage();
  parts['load generator (the bench process)'] = (user + system) / 1e6;
  return { parts, ...(layout === 'default' ? { threads: threadsCpuSeconds(processes.api.pid) } : {}) };
}

/**
 * CPU seconds spent between two snapshots, by part; for the default layout also by thread: its
 * main (HTTP) thread, its processor thread (the busiest of the others: one by default), and the
 * rest (V8's collector and compiler helpers, libuv's pool with LevelDB's reads and writes,
 * LevelDB's compaction).
 */
function cpuSpent(before: CpuSnapshot, after: CpuSnapshot, pid: number): Record<string, number> {
  const spent: Record<string, number> = {};
  for (const part of Object.keys(after.parts)) spent[part] = after.parts[part] - before.parts[part];
  if (before.threads && after.threads) {
    const byThread = new Map([...after.threads].map(([tid, seconds]) => [tid, seconds - (before.threads!.get(tid) ?? 0)]));
    const { main, processor, others } = splitByThread(byThread, pid, spent.service);
    spent['its main (HTTP) thread'] = main;
    spent['its processor thread'] = processor;
    spent['its other threads'] = others;
  }
  return spent;
}

export async function ingest(env: BenchEnv, options: IngestOptions): Promise<ScenarioResult> {
  const result = newResult(
    'B1',
    'Ingest: POST /deposit',
    `autocannon, ${options.connections.join(', ')} connections, ${options.durationSeconds} s each after ${options.warmUpSeconds} s of the same load on the same process, wallet ids random over ${options.wallets.toLocaleString('en')}, ` +
      `amounts as decimal strings; processors running; layouts: ${options.layouts.map((layout) => LAYOUT_NAMES[layout]).join(', ')}` +
      (options.keyedConnections.length > 0 ? `; at ${options.keyedConnections.join(', ')} connections also npm start, keyed: every deposit with an Idempotency-Key of its own` : ''),
  );
  for (const connections of options.connections) {
    for (let rep = 0; rep < options.reps; rep++) {
      // The layouts take turns within each repetition, so that neither meets a warmer broker (its
      // JIT compiles for minutes) or a quieter minute of the machine more often than the other.
      for (const { layout, keyed, name } of variantsAt(connections, options)) {
        const mode = `${name}, ${connections.toLocaleString('en')} conn.`;
        const original = layout === 'default' && !keyed ? ORIGINAL[connections] : undefined;
        const rate: Omit<Figure, 'values'> = {
          label: `req/s, ${mode}`,
          unit: 'req/s',
          better: 'higher',
          ceiling: options.produceCeiling,
          ...(original ? { original: original.rate } : {}),
          ...(connections === 1000 && original ? { goal: Math.round(original.rate * GOAL_OVER_ORIGINAL) } : {}),
        };
        const prefix = env.prefix(`b1-${layout}${keyed ? '-keyed' : ''}-${connections}`);
        const processes = await startLayout(env, layout, prefix);
        const processor = processes.parts.at(-1)!.process;
        const api = processes.api;
        try {
          const acked = new Map<string, SentDeposit>();
          // Requests without a 202: those in flight when a load stopped (autocannon drops
          // them), and any refused; Kafka may have taken them, or not.
          const unanswered = new Set<SentDeposit>();
          let unreadable = 0;
          const run = depositLoad({
            url: api.url,
            connections,
            wallets: options.wallets,
            seed: 100 + rep,
            keyed,
            onSent: (sent) => unanswered.add(sent),
            onResponse: (status, body, sent) => {
              if (status !== 202) return;
              unanswered.delete(sent);
              const id = /"deposit_id":"([^"]+)"/.exec(body)?.[1];
              if (id) acked.set(id, sent);
              else unreadable++;
            },
          });
          const caughtUp = () => waitForZeroLag(env.admin, prefix, 300_000, () => processor.assertAlive());

          // The warm-up: the same load, its deposits verified with the rest, its figures apart.
          const warmUp = await run(options.warmUpSeconds);
          await caughtUp();

          const ackedBefore = acked.size;
          const transactionsBefore = groupTransactions(await processor.text('/metrics'));
          const cpuBefore = cpuNow(env, layout, processes);
          const load = await run(options.durationSeconds);
          const loadEnded = Date.now();
          await caughtUp();
          const caughtUpSeconds = (Date.now() - loadEnded) / 1000;
          const cpuAfter = cpuNow(env, layout, processes);
          const accepted = acked.size - ackedBefore;

          record(result, rate, load.requestsPerSecond);
          record(result, { label: `p50 latency, ${mode}`, unit: 'ms', better: 'lower' }, load.p50Ms);
          record(
            result,
            { label: `p99 latency, ${mode}`, unit: 'ms', better: 'lower', ...(original ? { original: original.p99 } : {}), goal: connections <= 100 ? 25 : 1000 },
            load.p99Ms,
          );
          // The same answers without each connection's first (timed from before autocannon
          // created its clients and connected), and those first ones alone: see LoadResult.
          record(result, { label: `p99 latency, first requests excluded, ${mode}`, unit: 'ms', better: 'lower', info: true }, load.established.p99Ms);
          record(result, { label: `p99 latency of each connection's first request, ${mode}`, unit: 'ms', better: 'lower', info: true }, load.firstRequests.p99Ms);
          record(result, { label: `non-2xx answers, ${mode}`, unit: '', better: 'lower', ...(connections <= 1000 ? { goal: 0 } : {}) }, load.non2xx);
          record(result, { label: `timeouts (no answer in 10 s), ${mode}`, unit: '', better: 'lower', goal: 0 }, load.timeouts);
          record(result, { label: `processing caught up after the load, ${mode}`, unit: 's', better: 'lower' }, caughtUpSeconds);
          const firstSeconds = `first ${options.warmUpSeconds} s after ready (warm-up, not in the runs), ${mode}`;
          record(result, { label: `req/s, ${firstSeconds}`, unit: 'req/s', better: 'higher', info: true }, warmUp.requestsPerSecond);
          record(result, { label: `p99 latency, ${firstSeconds}`, unit: 'ms', better: 'lower', info: true }, warmUp.p99Ms);
          record(result, { label: `non-2xx answers and timeouts, ${firstSeconds}`, unit: '', better: 'lower', info: true }, warmUp.non2xx + warmUp.timeouts);
          // Under live load a group commits a transaction per partition and fetch: what they cost
          // the broker shows in its CPU above, and how many there were here.
          const transactions = groupTransactions(await processor.text('/metrics')) - transactionsBefore;
          record(result, { label: `processor transactions per 1,000 accepted, ${mode}`, unit: '', better: 'lower', info: true }, (transactions / Math.max(1, accepted)) * 1000);
          const spent = cpuSpent(cpuBefore, cpuAfter, api.pid);
          for (const part of Object.keys(spent)) {
            const perThousand = (spent[part] / Math.max(1, accepted)) * 1000;
            record(result, { label: `CPU-s per 1,000 accepted, ${part}, ${mode}`, unit: 's', better: 'lower', info: true }, perThousand);
          }

          // Every acknowledged deposit must be on the topic, as acknowledged.
          const onTopic = new Map<string, { walletId: string; amountMinor: bigint }>();
          let records = 0;
          let keyedRecords = 0;
          await readTopic(env.kafka, env.admin, `${prefix}deposit`, (batch) => {
            for (const { value } of batch) {
              const deposit = topics.deposit.codec.decode(value!);
              onTopic.set(deposit.depositId, { walletId: deposit.walletId, amountMinor: deposit.amountMinor });
              records++;
              if (deposit.idempotencyKey !== '') keyedRecords++;
            }
          });
          const missing = [...acked].filter(([id, want]) => {
            const got = onTopic.get(id);
            return !got || got.walletId !== want.walletId || got.amountMinor !== BigInt(want.amountMinor);
          });
          const problems = [
            ...(unreadable > 0 ? [`${unreadable} 202 answers without a deposit_id`] : []),
            ...(missing.length > 0 ? [`${missing.length} of ${acked.size} acknowledged deposits not on the topic as acknowledged (e.g. ${missing[0][0]})`] : []),
            ...(onTopic.size !== records ? [`${records - onTopic.size} deposit ids twice on the topic`] : []),
            ...(keyedRecords !== (keyed ? records : 0) ? [`${keyedRecords} of ${records} deposits on the topic with an Idempotency-Key, ${keyed ? 'every one' : 'none'} sent with one`] : []),
          ];
          const expectation = new Expectation();
          const spec = ({ walletId, amountMinor, sentAtMs }: SentDeposit) => ({ walletId, amountMinor: BigInt(amountMinor), acceptedAtMs: sentAtMs });
          for (const sent of acked.values()) expectation.add(spec(sent));
          for (const sent of unanswered) expectation.addUncertain(spec(sent));
          const verdict = await verifyTables(env.kafka, env.admin, prefix, expectation);
          if (!verdict.ok) problems.push(`${verdict.wrong} of ${verdict.wallets} wallets wrong after processing: ${verdict.problems.slice(0, 3).join('; ')}`);
          const processed = `; processed: ${verdict.wallets - verdict.wrong} of ${verdict.wallets} wallets exact, counting every 202 once and ${verdict.uncertainCounted} of the ${verdict.uncertain} unanswered at most once (${verdict.flagged} flagged, as the rule says)`;
          const statuses = (phase: LoadResult) => Object.entries(phase.statuses).map(([status, count]) => `${status}×${count}`).join(', ');
          result.checks.push(
            `${mode}, run ${rep + 1}: ${acked.size} acknowledged (warm-up ${statuses(warmUp)}; run ${statuses(load)}), ${unanswered.size} without an answer when a load stopped; ${records} deposits on the topic (${keyedRecords} with an Idempotency-Key), every 2xx on it: ${missing.length === 0 ? 'yes' : 'NO'}${processed}`,
          );
          result.failures.push(...problems.map((problem) => `${mode}, run ${rep + 1}: ${problem}`));
        } finally {
          await Promise.all(processes.parts.map(({ process }) => process.stop('SIGTERM')));
          await env.dropTopics(prefix);
        }
      }
    }
  }
  return result;
}
