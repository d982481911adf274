/**
 * B7 read path (GET /check under autocannon) and B8 freshness (deposits at a steady rate, each
 * followed by GET /check?token=: how long from the 202 to the read that includes it). Both on
 * wallets a processor has filled; B8 with the processor running, as in production.
 */
import type { BenchEnv, ServiceProcess } from '../lib/env';
import { HttpClient, type LoadResult, closedLoop, depositBody } from '../lib/http';
import { createStreamTopic, produceDeposits, waitForZeroLag } from '../lib/kafka';
import { type ScenarioResult, histogramBuckets, histogramQuantile, newResult, percentile, record } from '../lib/results';
import { Expectation, verifyTables } from '../lib/verify';
import { MAX_AMOUNT_MINOR, Workload, random } from '../lib/workload';

interface ReadEnv {
  prefix: string;
  workload: Workload;
  expectation: Expectation;
  api: ServiceProcess;
  processes: ServiceProcess[];
}

/** `wallets` wallets with one deposit each, processed; the service as `npm start` runs it (one process, info logs), its views ready. */
async function readEnv(env: BenchEnv, name: string, wallets: number): Promise<ReadEnv> {
  const prefix = env.prefix(name);
  const workload = new Workload(wallets, wallets, { roundRobin: true, seed: 11 });
  await createStreamTopic(env.admin, `${prefix}deposit`);
  await produceDeposits(env.kafka, `${prefix}deposit`, workload.count, workload.spec);
  // As npm start runs it: its default log level, every request logged.
  const service = await env.main({ prefix, dataDir: env.dataDir(`${name}-service`), env: { LOG_LEVEL: 'info' }, keepLines: 20 });
  await waitForZeroLag(env.admin, prefix, 300_000, () => service.assertAlive());
  await service.waitFor('/health/ready');
  return { prefix, expectation: new Expectation(workload), workload, api: service, processes: [service] };
}

async function closeReadEnv(env: BenchEnv, read: ReadEnv): Promise<void> {
  await Promise.all(read.processes.map((process) => process.stop('SIGTERM')));
  await env.dropTopics(read.prefix);
}

export interface ReadOptions {
  reps: number;
  wallets: number;
  connections: readonly number[];
  durationSeconds: number;
  /**
   * Seconds of the same load on the service and on each floor server before the runs, reported
   * apart: V8 compiles a process's request path during its first seconds under load, and the
   * views' cache fills (`VIEW_CACHE_VALUES`), as in a service that has been running.
   */
  warmUpSeconds: number;
}

/** The original's GET /check figures, by connections: side by side with ours on 2026-12-01 (`npm run bench:original`, medians of 3). */
const ORIGINAL_READS: Record<number, { rate: number; p99: number }> = { 100: { rate: 44_751, p99: 5 }, 1000: { rate: 42_144, p99: 49 } };

/**
 * Servers answering GET /check/:wallet_id with a fixed body shaped like ours (bench/lib/floor-server.mjs):
 * what an answer costs in Node.js on this machine before the service does anything.
 */
export const FLOORS = [
  { kind: 'node', label: 'node:http alone' },
  { kind: 'fastify', label: 'fastify alone' },
  { kind: 'nest', label: 'NestJS on fastify' },
] as const;

/**
 * CPU-seconds of a server over `run`, per 2xx answer, in µs; the load generator's (this process,
 * where autocannon runs on one thread) in cores busy over the run; and the run's result.
 */
async function cpuPerAnswer(server: ServiceProcess, run: () => Promise<LoadResult>): Promise<{ load: LoadResult; cpuUs: number; loadGeneratorCores: number }> {
  const before = server.usage().cpuSeconds;
  const generatorBefore = process.cpuUsage();
  const startedAt = performance.now();
  const load = await run();
  const generator = process.cpuUsage(generatorBefore);
  return {
    load,
    cpuUs: ((server.usage().cpuSeconds - before) / Math.max(1, load.ok)) * 1e6,
    loadGeneratorCores: (generator.user + generator.system) / 1000 / (performance.now() - startedAt),
  };
}

/**
 * B7: GET /check/:wallet_id, every answer compared with the wallet's expected balance; after each
 * run, the same load on each floor server, so that ours reads as a share of what Node.js itself
 * takes on this machine in the same minute.
 */
export async function readPath(env: BenchEnv, options: ReadOptions): Promise<ScenarioResult> {
  const result = newResult(
    'B7',
    'Read path: GET /check',
    `autocannon, ${options.connections.join(' and ')} connections, ${options.durationSeconds} s, wallets random over ${options.wallets.toLocaleString('en')} filled ones, after ${options.warmUpSeconds} s of the same load on each server; the service as npm start runs it, processors idle; then the same load on servers answering a fixed body (${FLOORS.map((floor) => floor.label).join(', ')})`,
  );
  const read = await readEnv(env, 'b7', options.wallets);
  const floors = await Promise.all(FLOORS.map(async (floor) => ({ ...floor, server: await env.benchServer(`floor-${floor.kind}`, 'bench/lib/floor-server.mjs', [floor.kind]) })));
  try {
    await Promise.all(floors.map(({ server }) => server.waitFor('/check/w')));
    const { balance } = read.workload.expectedBalances();
    const checks = (url: string, connections: number, durationSeconds: number, seed: number, onAnswer?: (status: number, body: string, wallet: number) => void) => {
      const next = random(seed);
      return closedLoop<number>({
        url,
        connections,
        durationSeconds,
        method: 'GET',
        next: () => {
          const wallet = Math.floor(next() * options.wallets);
          return { path: `/check/${read.workload.walletId(wallet)}`, context: wallet };
        },
        ...(onAnswer ? { onResponse: onAnswer } : {}),
      });
    };
    /** Each 200 of a run compared with the wallet's expected balance; `report` says how many were wrong. */
    const tally = () => {
      let wrong = 0;
      let checked = 0;
      return {
        compare: (status: number, body: string, wallet: number) => {
          if (status !== 200) return;
          checked++;
          if (/"balance_minor":"(\d+)"/.exec(body)?.[1] !== String(balance[wallet])) wrong++;
        },
        report: (run: string) => {
          result.checks.push(`${run}: ${checked} answers compared with the expected balance, ${wrong} wrong`);
          if (wrong > 0) result.failures.push(`${run}: ${wrong} of ${checked} GET /check answers had a wrong balance`);
        },
      };
    };

    // The warm-up, at the first number of connections: its answers compared too, its rate apart.
    const warmUpConnections = options.connections[0];
    const warmUpTally = tally();
    const warmUp = await checks(read.api.url, warmUpConnections, options.warmUpSeconds, 199, warmUpTally.compare);
    for (const floor of floors) await checks(floor.server.url, warmUpConnections, options.warmUpSeconds, 199);
    warmUpTally.report('warm-up');
    for (const connections of options.connections)
    for (let rep = 0; rep < options.reps; rep++) {
      const original = ORIGINAL_READS[connections];
      const at = `${connections.toLocaleString('en')} conn.`;
      const answers = tally();
      const { load, cpuUs, loadGeneratorCores } = await cpuPerAnswer(read.api, () => checks(read.api.url, connections, options.durationSeconds, 200 + rep, answers.compare));
      record(result, { label: `req/s, ${at}`, unit: 'req/s', better: 'higher', ...(original ? { original: original.rate, goal: original.rate } : {}) }, load.requestsPerSecond);
      record(result, { label: `p50 latency, ${at}`, unit: 'ms', better: 'lower' }, load.p50Ms);
      record(result, { label: `p99 latency, ${at}`, unit: 'ms', better: 'lower', ...(original ? { original: original.p99 } : {}) }, load.p99Ms);
      record(result, { label: `p99 latency, first requests excluded, ${at}`, unit: 'ms', better: 'lower', info: true }, load.established.p99Ms);
      record(result, { label: `non-2xx answers and errors, ${at}`, unit: '', better: 'lower', goal: 0 }, load.failed);
      record(result, { label: `CPU per check, ${at}`, unit: 'µs', better: 'lower', info: true }, cpuUs);
      // Near 1, autocannon's one thread is the limit, not the service: the floors below then
      // answer about as many, and what compares is the CPU per check.
      record(result, { label: `load generator busy (1: its one thread saturated), ${at}`, unit: 'cores', better: 'lower', info: true }, loadGeneratorCores);
      for (const floor of floors) {
        const measured = await cpuPerAnswer(floor.server, () => checks(floor.server.url, connections, options.durationSeconds, 200 + rep));
        record(result, { label: `req/s, ${at}, floor: ${floor.label}`, unit: 'req/s', better: 'higher', info: true }, measured.load.okPerSecond);
        record(result, { label: `CPU per check, ${at}, floor: ${floor.label}`, unit: 'µs', better: 'lower', info: true }, measured.cpuUs);
      }
      answers.report(`${at}, run ${rep + 1}`);
    }
    record(result, { label: `req/s, first ${options.warmUpSeconds} s after ready (warm-up, not in the runs), ${warmUpConnections.toLocaleString('en')} conn.`, unit: 'req/s', better: 'higher', info: true }, warmUp.requestsPerSecond);
  } finally {
    await closeReadEnv(env, read);
  }
  return result;
}

export interface FreshnessOptions {
  reps: number;
  wallets: number;
  ratePerSecond: number;
  durationSeconds: number;
}

const WARM_UP_SECONDS = 3;

/** B8: deposits at a steady rate; each 202 followed by GET /check?token=; accept → visible. */
export async function freshness(env: BenchEnv, options: FreshnessOptions): Promise<ScenarioResult> {
  const result = newResult(
    'B8',
    'Freshness: accept → visible in GET /check',
    `${options.ratePerSecond.toLocaleString('en')} deposits/s for ${options.durationSeconds} s over ${options.wallets.toLocaleString('en')} wallets, each 202 followed at once by GET /check/:wallet_id?token=…&wait_ms=5000; the service as npm start runs it, after ${WARM_UP_SECONDS} s of the same load not reported`,
  );
  const read = await readEnv(env, 'b8', options.wallets);
  const client = new HttpClient(read.api.url);
  try {
    // Rep -1 warms the service up (JIT, connections) for WARM_UP_SECONDS and is not reported:
    // the goal is about a service under steady load, not its first second.
    for (let rep = -1; rep < options.reps; rep++) {
      const warmUp = rep < 0;
      const next = random(300 + rep);
      const visible: number[] = [];
      const posts: number[] = [];
      const problems: string[] = [];
      const unanswered: string[] = [];
      let accepted = 0;
      const one = async (index: number) => {
        const walletId = `fresh-${Math.floor(next() * options.wallets)}`;
        const amountMinor = 1 + Math.floor(next() * MAX_AMOUNT_MINOR);
        const sent = performance.now();
        const uncertain = () => read.expectation.addUncertain({ walletId, amountMinor: BigInt(amountMinor), acceptedAtMs: Date.now() });
        const post = await client.send('POST', '/deposit', depositBody(walletId, amountMinor)).catch((error: unknown) => {
          // No answer: Kafka may have the deposit, or not.
          uncertain();
          throw error;
        });
        const acceptedAt = performance.now();
        if (post.status !== 202) {
          uncertain();
          return void unanswered.push(`POST ${index}: ${post.status} ${post.body.slice(0, 100)}`);
        }
        accepted++;
        posts.push(acceptedAt - sent);
        const answer = JSON.parse(post.body) as { token: string; accepted_at: string };
        read.expectation.add({ walletId, amountMinor: BigInt(amountMinor), acceptedAtMs: Date.parse(answer.accepted_at) });
        const check = await client.send('GET', `/check/${walletId}?token=${answer.token}&wait_ms=5000`);
        const seen = performance.now();
        if (check.status !== 200) return void unanswered.push(`check ${index}: ${check.status} ${check.body.slice(0, 100)}`);
        const body = JSON.parse(check.body) as { balance_minor: string; deposit_count: number };
        if (BigInt(body.balance_minor) < BigInt(amountMinor) || body.deposit_count < 1) {
          return void problems.push(`check ${index}: ${walletId} shows ${body.balance_minor} in ${body.deposit_count} deposits, without the deposit of ${amountMinor}`);
        }
        visible.push(seen - acceptedAt);
      };
      const total = options.ratePerSecond * (warmUp ? Math.min(WARM_UP_SECONDS, options.durationSeconds) : options.durationSeconds);
      const metricsBefore = await read.api.text('/metrics');
      const started = performance.now();
      const inFlight = new Set<Promise<void>>();
      for (let index = 0; index < total; ) {
        const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * options.ratePerSecond));
        for (; index < due; index++) {
          const request = one(index).catch((error: unknown) => void unanswered.push(`request ${index}: ${(error as Error).message}`));
          inFlight.add(request);
          void request.finally(() => inFlight.delete(request));
        }
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      const offered = total / ((performance.now() - started) / 1000);
      await Promise.all(inFlight);
      if (warmUp) {
        // What a client meets right after a start, while V8 still runs the request path in its
        // interpreter (README, *Warm-up*): shown, not held to the goal.
        const firstSeconds = `first ${WARM_UP_SECONDS} s after ready (warm-up, not in the runs)`;
        record(result, { label: `POST /deposit p50, ${firstSeconds}`, unit: 'ms', better: 'lower', info: true }, percentile(posts, 50));
        record(result, { label: `POST /deposit p99, ${firstSeconds}`, unit: 'ms', better: 'lower', info: true }, percentile(posts, 99));
        result.failures.push(...problems.slice(0, 5).map((problem) => `warm-up: ${problem}`));
        continue;
      }
      record(result, { label: 'accept → visible p50', unit: 'ms', better: 'lower' }, percentile(visible, 50));
      record(result, { label: 'accept → visible p99', unit: 'ms', better: 'lower', goal: 100 }, percentile(visible, 99));
      record(result, { label: 'accept → visible max', unit: 'ms', better: 'lower', info: true }, Math.max(...visible));
      record(result, { label: 'POST /deposit p99', unit: 'ms', better: 'lower', info: true }, percentile(posts, 99));
      // Where the time goes, from the service's own histograms (as precise as their buckets).
      const metricsAfter = await read.api.text('/metrics');
      const quantile = (name: string, labels: Record<string, string>, q: number) =>
        1000 * histogramQuantile(histogramBuckets(metricsBefore, name, labels), histogramBuckets(metricsAfter, name, labels), q);
      for (const group of ['balance', 'threshold']) {
        for (const q of [0.5, 0.99]) {
          const label = `${group} group: deposit → committed, p${q * 100} (the service's histogram)`;
          record(result, { label, unit: 'ms', better: 'lower', info: true }, quantile('stream_group_commit_latency_seconds', { group }, q));
        }
      }
      for (const table of ['balance-table', 'threshold-table']) {
        const label = `${table} view: its group's transaction → read, p99 (the service's histogram)`;
        record(result, { label, unit: 'ms', better: 'lower', info: true }, quantile('stream_view_apply_latency_seconds', { table }, 0.99));
      }
      record(result, { label: 'deposits sent per second', unit: 'req/s', better: 'higher', info: true }, offered);
      record(result, { label: 'deposits not accepted or not visible in 5 s', unit: '', better: 'lower', goal: 0 }, unanswered.length);
      const firstUnanswered = unanswered.length > 0 ? ` (first: ${unanswered[0]})` : '';
      result.checks.push(
        `run ${rep + 1}: ${accepted} of ${total} accepted, ${visible.length} visible with their deposit through the token, ${problems.length} wrong${firstUnanswered}`,
      );
      result.failures.push(...problems.slice(0, 5).map((problem) => `run ${rep + 1}: ${problem}`));
    }
    await waitForZeroLag(env.admin, read.prefix, 300_000, () => read.processes.at(-1)!.assertAlive());
    const verdict = await verifyTables(env.kafka, env.admin, read.prefix, read.expectation);
    result.checks.push(
      `afterwards: ${verdict.wallets - verdict.wrong} of ${verdict.wallets} wallets exact (balance, count, flag), counting every 202 once and ${verdict.uncertainCounted} of the ${verdict.uncertain} deposits without an answer at most once`,
    );
    if (!verdict.ok) result.failures.push(`${verdict.wrong} wallets wrong after the runs: ${verdict.problems.slice(0, 3).join('; ')}`);
  } finally {
    client.close();
    await closeReadEnv(env, read);
  }
  return result;
}
