/**
 * The chaos run: steady deposits over HTTP while processors are killed with SIGKILL, the API is
 * killed once and the broker is stopped and started again; then every acknowledged deposit must
 * be counted exactly once, and every wallet's flag must match the window rule recomputed from
 * the deposits counted. `npm run chaos` runs a long one; the test suite a short one.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel } from 'kafkajs';
import { type LocalKafkaOptions, defaultLocalKafkaOptions, startLocalKafka, stopLocalKafka, wipeLocalKafka } from '../kafka/launcher';
import { freePort } from '../lib/free-port';
import { logEndAdmin } from '../lib/kafka-admin';
import { ManagedProcess } from '../lib/managed-process';
import { exceedsInSomeWindow } from '../lib/threshold-rule';

export interface ChaosOptions {
  durationMs: number;
  /** Deposits per second sent over HTTP. */
  ratePerSecond: number;
  wallets: number;
  /** Processor processes (each runs the three groups). */
  processors: number;
  processorKills: number;
  apiKills: number;
  brokerRestarts: number;
  /** Client port of the run's own broker. */
  brokerPort: number;
  /** The rule the service runs with; by default set so that some wallets cross it and some never do. */
  thresholdMinor?: bigint;
  windowMs: number;
  log: (line: string) => void;
}

export interface ChaosReport {
  sent: number;
  acknowledged: number;
  counted: number;
  lost: number;
  duplicated: number;
  /** Deposits counted whose request got no 2xx (Kafka took them, the answer was lost): allowed, once. */
  countedUnacknowledged: number;
  /** Wallets whose balance or count differs from their counted deposits. */
  inconsistent: number;
  /** Wallets whose flag differs from the rule recomputed from their counted deposits. */
  flagMismatches: number;
  flagged: number;
  wallets: number;
  kills: { processor: number; api: number; broker: number };
  problems: string[];
  ok: boolean;
}

export const defaultChaosOptions = (): ChaosOptions => ({
  durationMs: 180_000,
  ratePerSecond: 200,
  wallets: 400,
  processors: 2,
  processorKills: 8,
  apiKills: 1,
  brokerRestarts: 1,
  brokerPort: 19592,
  windowMs: 120_000,
  log: () => undefined,
});

interface Sent {
  walletId: string;
  amountMinor: bigint;
  key?: string;
  depositId?: string;
  attempts: number;
}

const decimal = (minor: bigint) => `${minor / 100n}.${(minor % 100n).toString().padStart(2, '0')}`;

// Amounts are uniform in 0.01 … 3,000.00.
const MAX_AMOUNT_MINOR = 300_000;

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log;
  // A wallet's deposits within one window sum to about this much on average; a threshold about
  // two standard deviations above it is crossed by some wallets, at some moment, and never by others.
  const depositsPerWindow = (options.ratePerSecond / options.wallets) * (options.windowMs / 1000);
  const typicalWindowMinor = depositsPerWindow * (MAX_AMOUNT_MINOR / 2);
  const thresholdMinor = options.thresholdMinor ?? BigInt(Math.round(typicalWindowMinor * (1 + 2 / Math.sqrt(Math.max(1, depositsPerWindow)))));
  const broker: LocalKafkaOptions = { ...defaultLocalKafkaOptions(process.cwd()), instance: 'chaos', port: options.brokerPort };
  await stopLocalKafka(broker);
  wipeLocalKafka(broker);
  const { brokers } = await startLocalKafka(broker);
  const data = mkdtempSync(join(tmpdir(), 'depositaja-chaos-'));
  const prefix = `chaos-${randomUUID().slice(0, 8)}-`;
  const env = {
    KAFKA_BROKERS: brokers,
    KAFKA_TOPIC_PREFIX: prefix,
    KAFKA_SESSION_TIMEOUT_MS: '3000',
    THRESHOLD_AMOUNT: decimal(thresholdMinor),
    THRESHOLD_WINDOW_MS: String(options.windowMs),
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
  };
  const apiPort = await freePort();
  const processorPorts = await Promise.all(Array.from({ length: options.processors }, freePort));
  const startApi = () =>
    new ManagedProcess('api', 'dist/main.js', ['--no-processors'], { ...env, PORT: String(apiPort), DATA_DIR: join(data, 'api') });
  const startProcessor = (index: number) =>
    new ManagedProcess(`processor ${index}`, 'dist/processor.js', [], { ...env, PORT: String(processorPorts[index]), DATA_DIR: join(data, `processor-${index}`) });
  const api = { process: startApi() };
  const processors = processorPorts.map((_, index) => startProcessor(index));
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const kills = { processor: 0, api: 0, broker: 0 };
  const problems: string[] = [];

  try {
    await waitFor('the API to be ready', () => get(`${apiUrl}/health/ready`).then((r) => r.status === 200), 120_000);
    log(`API on ${apiUrl}, ${options.processors} processor processes, broker ${brokers}, topics ${prefix}*`);

    // The load: a steady rate of deposits; requests with a key are retried until they get an answer.
    const acknowledged = new Map<string, Sent>();
    const retries: Sent[] = [];
    const touched = new Set<string>();
    let sent = 0;
    let stop = false;
    const attempt = async (deposit: Sent): Promise<void> => {
      deposit.attempts++;
      touched.add(deposit.walletId);
      try {
        const response = await fetch(`${apiUrl}/deposit`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(deposit.key ? { 'idempotency-key': deposit.key } : {}) },
          body: JSON.stringify({ wallet_id: deposit.walletId, amount: decimal(deposit.amountMinor) }),
          signal: AbortSignal.timeout(10_000),
        });
        const body = (await response.json()) as { deposit_id?: string; error?: string };
        if (response.status === 202 && body.deposit_id) {
          deposit.depositId = body.deposit_id;
          acknowledged.set(body.deposit_id, deposit);
          return;
        }
        if (response.status !== 503) problems.push(`unexpected ${response.status} ${JSON.stringify(body)}`);
      } catch {
        // No answer (the API died, or the broker is away): the outcome is unknown.
      }
      if (deposit.key && deposit.attempts < 30) retries.push(deposit);
    };
    const load = (async () => {
      const interval = 1000 / options.ratePerSecond;
      const started = Date.now();
      const inFlight = new Set<Promise<void>>();
      while (!stop) {
        const due = Math.floor((Date.now() - started) / interval);
        while (sent < due && !stop) {
          const deposit: Sent = {
            walletId: `w${Math.floor(Math.random() * options.wallets)}`,
            amountMinor: BigInt(1 + Math.floor(Math.random() * MAX_AMOUNT_MINOR)),
            key: Math.random() < 0.5 ? randomUUID() : undefined,
            attempts: 0,
          };
          sent++;
          const request = attempt(deposit).finally(() => inFlight.delete(request));
          inFlight.add(request);
        }
        for (const retry of retries.splice(0, 50)) {
          const request = attempt(retry).finally(() => inFlight.delete(request));
          inFlight.add(request);
        }
        await sleep(Math.max(1, interval));
      }
      await Promise.all(inFlight);
      // Keyed requests still unanswered are retried until they are answered (or give up).
      for (let round = 0; round < 60 && retries.length > 0; round++) {
        await Promise.all(retries.splice(0).map((retry) => attempt(retry)));
        if (retries.length > 0) await sleep(1000);
      }
    })();

    // The chaos: kills spread over the run, in a random order.
    const events: Array<() => Promise<void>> = [
      ...Array.from({ length: options.processorKills }, () => async () => {
        const index = Math.floor(Math.random() * processors.length);
        await processors[index].kill('SIGKILL');
        kills.processor++;
        log(`killed processor ${index} (SIGKILL)`);
        await sleep(200 + Math.random() * 1500);
        processors[index] = startProcessor(index);
      }),
      ...Array.from({ length: options.apiKills }, () => async () => {
        await api.process.kill('SIGKILL');
        kills.api++;
        log('killed the API (SIGKILL)');
        api.process = startApi();
        await waitFor('the API to answer again', () => get(`${apiUrl}/health/live`).then((r) => r.status === 200), 60_000);
      }),
      ...Array.from({ length: options.brokerRestarts }, () => async () => {
        await stopLocalKafka(broker);
        kills.broker++;
        log('stopped the broker');
        await sleep(5000);
        await startLocalKafka(broker);
        log('started the broker again');
      }),
    ].sort(() => Math.random() - 0.5);
    const slot = options.durationMs / (events.length + 1);
    for (const [index, event] of events.entries()) {
      await sleep(Math.max(0, slot * (index + 1) - slot * index + (Math.random() - 0.5) * slot * 0.5));
      await event();
    }
    await sleep(slot);
    stop = true;
    await load;
    log(`load done: ${sent} sent, ${acknowledged.size} acknowledged; waiting for processing to settle`);

    // Settle: every group has committed every input record, and the API's views read it all.
    const kafka = new Kafka({ brokers: brokers.split(','), logLevel: logLevel.NOTHING });
    const admin = logEndAdmin(kafka);
    await admin.connect();
    try {
      for (const [group, topics] of [['balance', ['deposit']], ['threshold', ['deposit', 'flag_wallet']], ['flagger', ['flag_wallet']]] as const) {
        for (const topic of topics) {
          await waitFor(`group ${group} to process ${topic}`, () => lag(admin, `${prefix}${group}`, `${prefix}${topic}`).then((n) => n === 0), 180_000);
        }
      }
    } finally {
      await admin.disconnect();
    }
    await waitFor('the API views to catch up', () => viewLag(apiUrl).then((n) => n === 0), 120_000);
    await sleep(1000);
    await waitFor('the API views to catch up', () => viewLag(apiUrl).then((n) => n === 0), 120_000);

    // Verify every wallet touched: its history against what was acknowledged, its balance and
    // count against its history, its flag against the rule.
    const counted = new Map<string, { walletId: string; amountMinor: bigint }>();
    let duplicated = 0;
    let inconsistent = 0;
    let flagMismatches = 0;
    let flagged = 0;
    for (const walletId of touched) {
      const history = await fullHistory(apiUrl, walletId);
      const check = (await get(`${apiUrl}/check/${walletId}`)).body as { balance_minor: string; deposit_count: number; above_threshold: boolean };
      for (const entry of history) {
        if (counted.has(entry.depositId)) {
          duplicated++;
          problems.push(`deposit ${entry.depositId} of ${walletId} counted twice`);
        }
        counted.set(entry.depositId, { walletId, amountMinor: entry.amountMinor });
      }
      const sum = history.reduce((total, entry) => total + entry.amountMinor, 0n);
      if (BigInt(check.balance_minor) !== sum || check.deposit_count !== history.length) {
        inconsistent++;
        problems.push(`${walletId}: balance ${check.balance_minor}/${check.deposit_count} but history ${sum}/${history.length}`);
      }
      const expected = exceedsInSomeWindow(history, thresholdMinor, options.windowMs);
      if (expected) flagged++;
      if (check.above_threshold !== expected) {
        flagMismatches++;
        problems.push(`${walletId}: above_threshold ${check.above_threshold}, the rule says ${expected}`);
      }
    }
    let lost = 0;
    for (const [depositId, deposit] of acknowledged) {
      const found = counted.get(depositId);
      if (!found) {
        lost++;
        problems.push(`acknowledged deposit ${depositId} of ${deposit.walletId} not counted`);
      } else if (found.amountMinor !== deposit.amountMinor || found.walletId !== deposit.walletId) {
        problems.push(`deposit ${depositId} counted as ${found.amountMinor} on ${found.walletId}`);
      }
    }
    const report: ChaosReport = {
      sent,
      acknowledged: acknowledged.size,
      counted: counted.size,
      lost,
      duplicated,
      countedUnacknowledged: [...counted.keys()].filter((id) => !acknowledged.has(id)).length,
      inconsistent,
      flagMismatches,
      flagged,
      wallets: touched.size,
      kills,
      problems: problems.slice(0, 50),
      ok: false,
    };
    report.ok = problems.length === 0 && kills.processor >= options.processorKills && kills.api >= options.apiKills;
    return report;
  } catch (error) {
    const tails = [api.process, ...processors].map((child) => `--- ${child.name}:\n${child.output.slice(-15).join('\n')}`);
    throw new Error(`${(error as Error).message}\n${tails.join('\n')}`);
  } finally {
    await Promise.all([api.process.kill('SIGKILL'), ...processors.map((child) => child.kill('SIGKILL'))]);
    await stopLocalKafka(broker);
    wipeLocalKafka(broker);
    rmSync(data, { recursive: true, force: true });
  }
}

async function get(url: string): Promise<{ status: number; body: unknown; text: string }> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // Prometheus text, kept as is
    }
    return { status: response.status, body, text };
  } catch {
    return { status: 0, body: undefined, text: '' };
  }
}

async function fullHistory(apiUrl: string, walletId: string) {
  const entries: Array<{ depositId: string; amountMinor: bigint; acceptedAtMs: number }> = [];
  let cursor: string | null = null;
  do {
    const page = (await get(`${apiUrl}/wallets/${walletId}/deposits?limit=100${cursor ? `&cursor=${cursor}` : ''}`)).body as {
      deposits: Array<{ deposit_id: string; amount: number; accepted_at: string }>;
      next_cursor: string | null;
    };
    for (const deposit of page.deposits) {
      entries.push({ depositId: deposit.deposit_id, amountMinor: toMinor(deposit.amount), acceptedAtMs: Date.parse(deposit.accepted_at) });
    }
    cursor = page.next_cursor;
  } while (cursor);
  return entries;
}

/** Exact minor units of a JSON number with at most 2 decimals, through its decimal text. */
function toMinor(amount: number): bigint {
  const [whole, fraction = ''] = String(amount).split('.');
  return BigInt(whole) * 100n + BigInt(fraction.padEnd(2, '0'));
}

async function lag(admin: ReturnType<Kafka['admin']>, groupId: string, topic: string): Promise<number> {
  try {
    const [ends, [committed]] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId, topics: [topic] })]);
    return ends.reduce((total, end) => {
      const done = Number(committed.partitions.find((partition) => partition.partition === end.partition)?.offset ?? -1);
      return total + Number(end.high) - Math.max(0, done);
    }, 0);
  } catch {
    return -1;
  }
}

async function viewLag(apiUrl: string): Promise<number> {
  const { status, text } = await get(`${apiUrl}/metrics`);
  if (status !== 200) return -1;
  return text
    .split('\n')
    .filter((line) => line.startsWith('stream_view_lag_records{'))
    .reduce((total, line) => total + Number(line.split(' ').at(-1)), 0);
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(250);
  }
  throw new Error(`chaos: timed out waiting for ${what}`);
}
