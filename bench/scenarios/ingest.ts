/**
 * B1 ingest: POST /deposit under autocannon (closed loop), the API alone and with the
 * processors running. Verified: every 2xx's deposit is on the topic with its wallet and
 * amount; with processors, every wallet's balance and flag against the topic's deposits.
 */
import type { BenchEnv, ServiceProcess } from '../lib/env';
import { closedLoop, decimal } from '../lib/http';
import { readTopic, waitForZeroLag } from '../lib/kafka';
import { type Figure, type ScenarioResult, newResult, record } from '../lib/results';
import { Expectation, verifyTables } from '../lib/verify';
import { MAX_AMOUNT_MINOR, random, walletName } from '../lib/workload';
import { topics } from '../../src/topics';

export interface IngestOptions {
  reps: number;
  connections: number;
  durationSeconds: number;
  wallets: number;
  /** Run with the processors stopped (as the original was measured), running, or both. */
  modes: ReadonlyArray<'stopped' | 'running'>;
  /** The raw kafkajs producer rate measured in this run (rec/s), the ceiling. */
  produceCeiling?: number;
}

export async function ingest(env: BenchEnv, options: IngestOptions): Promise<ScenarioResult> {
  const result = newResult(
    'B1',
    'Ingest: POST /deposit',
    `autocannon, ${options.connections} connections, ${options.durationSeconds} s, wallet ids random over ${options.wallets.toLocaleString('en')}, amounts as decimal strings`,
  );
  for (const withProcessors of options.modes.map((mode) => mode === 'running')) {
    const mode = withProcessors ? 'processors running' : 'processors stopped';
    const rate: Omit<Figure, 'values'> = {
      label: `req/s, ${mode}`,
      unit: 'req/s',
      better: 'higher',
      ceiling: options.produceCeiling,
      ...(withProcessors ? {} : { original: 950 }),
      goal: 9500,
    };
    for (let rep = 0; rep < options.reps; rep++) {
      const prefix = env.prefix(`b1-${withProcessors ? 'run' : 'api'}`);
      const api = await env.api({ prefix, dataDir: env.dataDir('b1-api') });
      let processor: ServiceProcess | undefined;
      try {
        await api.waitFor('/health/ready');
        if (withProcessors) {
          processor = await env.processor({ prefix, dataDir: env.dataDir('b1-processor') });
          await processor.waitFor('/health/ready');
        }
        const next = random(100 + rep);
        type Sent = { walletId: string; amountMinor: number; sentAtMs: number };
        const acked = new Map<string, Sent>();
        // Requests without a 202: those in flight when the load stopped (autocannon drops
        // them), and any refused; Kafka may have taken them, or not.
        const unanswered = new Set<Sent>();
        let unreadable = 0;
        const load = await closedLoop<Sent>({
          url: api.url,
          connections: options.connections,
          durationSeconds: options.durationSeconds,
          method: 'POST',
          next: () => {
            const sent = { walletId: walletName(Math.floor(next() * options.wallets)), amountMinor: 1 + Math.floor(next() * MAX_AMOUNT_MINOR), sentAtMs: Date.now() };
            unanswered.add(sent);
            return { path: '/deposit', body: `{"wallet_id":"${sent.walletId}","amount":"${decimal(sent.amountMinor)}"}`, context: sent };
          },
          onResponse: (status, body, sent) => {
            if (status !== 202) return;
            unanswered.delete(sent);
            const id = /"deposit_id":"([^"]+)"/.exec(body)?.[1];
            if (id) acked.set(id, sent);
            else unreadable++;
          },
        });
        record(result, rate, load.requestsPerSecond);
        record(result, { label: `p50 latency, ${mode}`, unit: 'ms', better: 'lower', ...(withProcessors ? {} : { original: 104 }) }, load.p50Ms);
        record(result, { label: `p99 latency, ${mode}`, unit: 'ms', better: 'lower', ...(withProcessors ? {} : { original: 116 }), goal: 25 }, load.p99Ms);
        record(result, { label: `non-2xx answers and errors, ${mode}`, unit: '', better: 'lower', goal: 0 }, load.failed);

        // Every acknowledged deposit must be on the topic, as acknowledged.
        const onTopic = new Map<string, { walletId: string; amountMinor: bigint }>();
        let records = 0;
        await readTopic(env.kafka, env.admin, `${prefix}deposit`, (batch) => {
          for (const { value } of batch) {
            const deposit = topics.deposit.codec.decode(value!);
            onTopic.set(deposit.depositId, { walletId: deposit.walletId, amountMinor: deposit.amountMinor });
            records++;
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
        ];
        let processed = '';
        if (processor) {
          await waitForZeroLag(env.admin, prefix, 300_000, () => processor!.assertAlive());
          const expectation = new Expectation();
          const spec = ({ walletId, amountMinor, sentAtMs }: Sent) => ({ walletId, amountMinor: BigInt(amountMinor), acceptedAtMs: sentAtMs });
          for (const sent of acked.values()) expectation.add(spec(sent));
          for (const sent of unanswered) expectation.addUncertain(spec(sent));
          const verdict = await verifyTables(env.kafka, env.admin, prefix, expectation);
          if (!verdict.ok) problems.push(`${verdict.wrong} of ${verdict.wallets} wallets wrong after processing: ${verdict.problems.slice(0, 3).join('; ')}`);
          processed = `; processed: ${verdict.wallets - verdict.wrong} of ${verdict.wallets} wallets exact, counting every 202 once and ${verdict.uncertainCounted} of the ${verdict.uncertain} unanswered at most once (${verdict.flagged} flagged, as the rule says)`;
        }
        const statuses = Object.entries(load.statuses).map(([status, count]) => `${status}×${count}`).join(', ');
        result.checks.push(
          `${mode}, run ${rep + 1}: ${acked.size} acknowledged (${statuses}), ${unanswered.size} without an answer when the load stopped; ${records} deposits on the topic, every 2xx on it: ${missing.length === 0 ? 'yes' : 'NO'}${processed}`,
        );
        result.failures.push(...problems.map((problem) => `${mode}, run ${rep + 1}: ${problem}`));
      } finally {
        await Promise.all([api.stop('SIGTERM'), processor?.stop('SIGTERM')]);
        await env.dropTopics(prefix);
      }
    }
  }
  return result;
}
