/**
 * Signals read from a service process: its monitor summary (partition states, restoration) and
 * its metrics (records its groups processed). The bench waits on these, never on a clock.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kafka } from 'kafkajs';
import { partitionFor } from '../../src/streams/index';
import type { ServiceProcess } from './env';
import { type DepositSpec, PARTITIONS, produceDeposits } from './kafka';
import type { Expectation } from './verify';

interface Summary {
  groups: Array<{
    group: string;
    running: boolean;
    processed: number;
    partitions: Array<{ partition: number; state: 'restoring' | 'running'; restore: { done: number; total: number; started_at: string; finished_at: string | null } | null }>;
  }>;
}

export interface Restored {
  /** When every partition of every group was running (restored and consuming), ms since epoch. */
  at: number;
  /** Changelog records restored, over every partition. */
  records: number;
  /** From the first restoration's start to the last one's end, as the process recorded them, in s. */
  restoreSeconds: number;
}

/** Waits until the process runs all `groups` × `partitions` partitions, restored. */
export async function waitUntilRestored(service: ServiceProcess, groups = 3, partitions = PARTITIONS, timeoutMs = 300_000): Promise<Restored> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    service.assertAlive();
    const summary = await service.json<Summary>('/monitor/api/summary').catch(() => undefined);
    const all = summary?.groups.flatMap((group) => (group.running ? group.partitions : [])) ?? [];
    if (summary && summary.groups.length === groups && all.length === groups * partitions && all.every((partition) => partition.state === 'running')) {
      const at = Date.now();
      const restores = all.map((partition) => partition.restore).filter((restore) => restore !== null);
      const starts = restores.map((restore) => Date.parse(restore.started_at));
      const ends = restores.map((restore) => Date.parse(restore.finished_at ?? restore.started_at));
      return {
        at,
        records: restores.reduce((sum, restore) => sum + restore.done, 0),
        restoreSeconds: restores.length > 0 ? (Math.max(...ends) - Math.min(...starts)) / 1000 : 0,
      };
    }
    await sleep(50);
  }
  throw new Error(`${service.process.name}: partitions not all restored within ${timeoutMs / 1000} s`);
}

/** Records each group of the process has processed (and committed) since it started, from its monitor summary. */
async function processedByGroup(service: ServiceProcess): Promise<Record<string, number>> {
  const summary = await service.json<Summary>('/monitor/api/summary');
  return Object.fromEntries(summary.groups.map((group) => [group.group, group.processed]));
}

/** Waits until every group of the process has processed at least `count` records; resolves with when. */
export async function waitUntilProcessed(service: ServiceProcess, count: number, groups = ['balance', 'threshold', 'flagger'], timeoutMs = 120_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    service.assertAlive();
    const counts = await processedByGroup(service).catch(() => ({}) as Record<string, number>);
    if (groups.every((group) => (counts[group] ?? 0) >= count)) return Date.now();
    await sleep(50);
  }
  throw new Error(`${service.process.name}: groups did not process ${count} records within ${timeoutMs / 1000} s`);
}

/**
 * Deposits on wallets of their own, one on each partition, each over the threshold on its own:
 * every group has a record to process on every partition (the flagger gets a flag event).
 * They are added to the expectation.
 */
export async function produceProbes(kafka: Kafka, topic: string, name: string, expectation: Expectation): Promise<number> {
  const probes: DepositSpec[] = [];
  const covered = new Set<number>();
  for (let index = 0; covered.size < PARTITIONS; index++) {
    const walletId = `probe-${name}-${index}`;
    const partition = partitionFor(walletId, PARTITIONS);
    if (covered.has(partition)) continue;
    covered.add(partition);
    probes.push({ walletId, amountMinor: 1_000_001n, acceptedAtMs: Date.now() });
  }
  await produceDeposits(kafka, topic, probes.length, (index) => probes[index]);
  for (const probe of probes) expectation.add(probe);
  return probes.length;
}
