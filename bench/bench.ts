/**
 * The bench as a library: which scenarios, at which sizes, on which broker; run them in order
 * and collect their results. bench/run.ts is the command line; the smoke test calls it small.
 */
import { copyFileSync, existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BenchEnv } from './lib/env';
import { type HotSpots, hotSpots } from './lib/profile';
import type { ScenarioResult } from './lib/results';
import { type Ceilings, baseline } from './scenarios/baseline';
import { core } from './scenarios/core';
import { type IngestLayout, ingest } from './scenarios/ingest';
import { type IngestProfile, profileIngest } from './scenarios/ingest-profile';
import { processOnce, verifyAndClean } from './scenarios/processing';
import { type GrowthRun, growth, hotKeys, killHalfway, partitionScaling, processing } from './scenarios/processing-scenarios';
import { freshness, readPath } from './scenarios/reads';

export const SCENARIOS = ['ceiling', 'core', 'B1', 'B2', 'B3', 'B4', 'B5', 'B6', 'B7', 'B8', 'growth', 'partitions'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

/** Sizes of every scenario (issue 7's shapes by default). */
export interface BenchPlan {
  reps: number;
  ceiling: { count: number; perSend: number };
  core: { count: number; keys: number };
  b1: { connections: readonly number[]; durationSeconds: number; warmUpSeconds: number; wallets: number; layouts: readonly IngestLayout[]; keyedConnections: readonly number[] };
  b2: { count: number; wallets: number };
  b3: { count: number; wallets: number; slices: number };
  b6: { count: number; wallets: number };
  b7: { wallets: number; connections: readonly number[]; durationSeconds: number; warmUpSeconds: number };
  b8: { wallets: number; ratePerSecond: number; durationSeconds: number };
  growth: { sizes: number[]; wallets: number };
  partitions: { counts: number[]; count: number; wallets: number };
  profile: { count: number; wallets: number };
}

export const defaultPlan = (): BenchPlan => ({
  reps: 3,
  ceiling: { count: 300_000, perSend: 5000 },
  core: { count: 200_000, keys: 20_000 },
  b1: { connections: [100, 1000, 2000], durationSeconds: 20, warmUpSeconds: 10, wallets: 100_000, layouts: ['default', 'split'], keyedConnections: [1000] },
  b2: { count: 1_000_000, wallets: 100_000 },
  b3: { count: 200_000, wallets: 100, slices: 5 },
  b6: { count: 1_000_000, wallets: 100_000 },
  b7: { wallets: 100_000, connections: [100, 1000], durationSeconds: 10, warmUpSeconds: 5 },
  b8: { wallets: 100_000, ratePerSecond: 2000, durationSeconds: 10 },
  growth: { sizes: [100_000, 1_000_000, 3_000_000], wallets: 100_000 },
  partitions: { counts: [6, 48], count: 1_000_000, wallets: 100_000 },
  profile: { count: 1_000_000, wallets: 100_000 },
});

/** Every count, wallet number and duration times `factor` (for a quick look; shapes stay). */
export function scalePlan(plan: BenchPlan, factor: number): BenchPlan {
  const count = (value: number, least = 1) => Math.max(least, Math.round(value * factor));
  return {
    ...plan,
    ceiling: { ...plan.ceiling, count: count(plan.ceiling.count, plan.ceiling.perSend) },
    core: { count: count(plan.core.count, 100), keys: count(plan.core.keys, 10) },
    b1: { ...plan.b1, durationSeconds: count(plan.b1.durationSeconds, 2), warmUpSeconds: count(plan.b1.warmUpSeconds, 1), wallets: count(plan.b1.wallets, 10) },
    b2: { count: count(plan.b2.count, 100), wallets: count(plan.b2.wallets, 10) },
    b3: { ...plan.b3, count: count(plan.b3.count, plan.b3.wallets * plan.b3.slices) },
    b6: { count: count(plan.b6.count, 100), wallets: count(plan.b6.wallets, 10) },
    b7: { ...plan.b7, wallets: count(plan.b7.wallets, 10), durationSeconds: count(plan.b7.durationSeconds, 2), warmUpSeconds: count(plan.b7.warmUpSeconds, 1) },
    b8: { ...plan.b8, wallets: count(plan.b8.wallets, 10), ratePerSecond: count(plan.b8.ratePerSecond, 20), durationSeconds: count(plan.b8.durationSeconds, 2) },
    growth: { sizes: plan.growth.sizes.map((size) => count(size, 100)), wallets: count(plan.growth.wallets, 10) },
    partitions: { ...plan.partitions, count: count(plan.partitions.count, 100), wallets: count(plan.partitions.wallets, 10) },
    profile: { count: count(plan.profile.count, 100), wallets: count(plan.profile.wallets, 10) },
  };
}

export interface BenchOptions {
  rootDir: string;
  scenarios: ReadonlySet<ScenarioName>;
  plan: BenchPlan;
  /** Use this cluster; otherwise the bench starts its own broker (instance "bench") on `port`. */
  brokers?: string;
  port: number;
  /** One extra B1 run and one extra B2 run (of those asked for) under the profiler, their hot spots reported. */
  profile: boolean;
  /** The node binary that runs the service; the bench's own by default. */
  node?: string;
  /** Environment for every service process on top of the bench's (e.g. a shorter session timeout in the smoke test). */
  serviceEnv?: Record<string, string>;
  log: (line: string) => void;
}

export interface BenchOutcome {
  results: ScenarioResult[];
  /** Scenarios that could not finish (a process died, a timeout): failures as well. */
  errors: string[];
  profile?: { hotSpots: HotSpots; count: number; seconds: number; file?: string };
  ingestProfile?: IngestProfile;
  ok: boolean;
}

export async function runBench(options: BenchOptions): Promise<BenchOutcome> {
  const { plan, scenarios: wanted, log } = options;
  const scratchDir = mkdtempSync(join(tmpdir(), 'depositaja-bench-'));
  const env = await BenchEnv.start({ rootDir: options.rootDir, brokers: options.brokers, port: options.port, scratchDir, node: options.node, serviceEnv: options.serviceEnv, log });
  const results: ScenarioResult[] = [];
  const errors: string[] = [];
  let outcomeProfile: BenchOutcome['profile'];
  let ingestProfile: IngestProfile | undefined;
  const step = async (name: string, run: () => Promise<void>) => {
    const started = Date.now();
    log(`${name}: starting`);
    try {
      await run();
      log(`${name}: done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    } catch (error) {
      errors.push(`${name} did not complete: ${(error as Error).message.split('\n').slice(0, 12).join('\n    ')}`);
      log(`${name}: FAILED: ${(error as Error).message}`);
      await env.stopServices();
    }
  };
  let ceilings: Ceilings | undefined;
  const processingRuns = new Map<number, GrowthRun[]>();
  try {
    if (wanted.has('ceiling')) {
      await step('ceiling', async () => {
        const { result, ceilings: measured } = await baseline(env, { reps: plan.reps, ...plan.ceiling });
        results.push(result);
        ceilings = measured;
      });
    }
    if (wanted.has('core')) await step('core', async () => void results.push(await core(env, { reps: plan.reps, ...plan.core })));
    if (wanted.has('B1')) await step('B1', async () => void results.push(await ingest(env, { reps: plan.reps, ...plan.b1, produceCeiling: ceilings?.produceRate })));
    if (wanted.has('B2') || wanted.has('B4') || wanted.has('B5')) {
      await step('B2 (with B4, B5)', async () => {
        const outcome = await processing(env, {
          reps: plan.reps,
          ...plan.b2,
          consumeCeiling: ceilings?.consumeRate,
          restarts: wanted.has('B4') || wanted.has('B5'),
        });
        results.push(outcome.b2, ...(outcome.b4 ? [outcome.b4] : []), ...(outcome.b5 ? [outcome.b5] : []));
        processingRuns.set(plan.b2.count, outcome.runs);
      });
    }
    if (wanted.has('B3')) await step('B3', async () => void results.push(await hotKeys(env, { reps: plan.reps, ...plan.b3 })));
    if (wanted.has('B6')) await step('B6', async () => void results.push(await killHalfway(env, { reps: plan.reps, ...plan.b6 })));
    if (wanted.has('B7')) await step('B7', async () => void results.push(await readPath(env, { reps: plan.reps, ...plan.b7 })));
    if (wanted.has('B8')) await step('B8', async () => void results.push(await freshness(env, { reps: plan.reps, ...plan.b8 })));
    if (wanted.has('growth')) {
      const known = plan.growth.wallets === plan.b2.wallets ? processingRuns : new Map();
      await step('growth', async () => void results.push(await growth(env, { reps: plan.reps, ...plan.growth, known, consumeCeiling: ceilings?.consumeRate })));
    }
    if (wanted.has('partitions')) {
      await step('partitions', async () => void results.push(await partitionScaling(env, { reps: plan.reps, partitions: plan.partitions.counts, count: plan.partitions.count, wallets: plan.partitions.wallets })));
    }
    // node refuses --cpu-prof in NODE_OPTIONS: a preloaded module profiles through the inspector.
    const preload = join(options.rootDir, 'bench/lib/cpu-profile.mjs');
    if (options.profile && wanted.has('B1')) {
      await step('profile of B1', async () => {
        const connections = plan.b1.connections.includes(1000) ? 1000 : plan.b1.connections.at(-1)!;
        const profileDir = join(scratchDir, 'profile-b1');
        ingestProfile = await profileIngest(env, { connections, durationSeconds: plan.b1.durationSeconds, warmUpSeconds: plan.b1.warmUpSeconds, wallets: plan.b1.wallets, preload, profileDir });
      });
    }
    if (options.profile && wanted.has('B2')) {
      await step('profile of B2', async () => {
        const dir = join(scratchDir, 'profile');
        const processorEnv = { NODE_OPTIONS: `--import=${preload}`, BENCH_CPU_PROFILE_DIR: dir };
        const run = await processOnce(env, 'profile', { ...plan.profile, seed: 9000, processorEnv });
        const verdict = await verifyAndClean(env, run);
        if (!verdict.ok) errors.push(`profile run: ${verdict.wrong} wallets wrong: ${verdict.problems.slice(0, 3).join('; ')}`);
        await run.processor.process.exited;
        // One profile per thread (and one of the short-lived listener helper): the processor
        // thread's, which did the most work (not always the largest file).
        const profiles = existsSync(dir) ? readdirSync(dir).filter((name) => name.endsWith('.cpuprofile')) : [];
        const busy = new Map(profiles.map((name) => [name, hotSpots(join(dir, name)).totalSeconds]));
        const file = profiles.sort((a, b) => busy.get(b)! - busy.get(a)!)[0];
        if (!file) throw new Error('the processor wrote no CPU profile');
        // Kept outside the scratch folder, for a closer look (e.g. in Chrome DevTools).
        const kept = join(tmpdir(), `depositaja-bench-b2-${Date.now()}.cpuprofile`);
        copyFileSync(join(dir, file), kept);
        outcomeProfile = { hotSpots: hotSpots(kept), count: plan.profile.count, seconds: run.seconds, file: kept };
      });
    }
  } finally {
    await env.close();
  }
  const ok = errors.length === 0 && results.every((result) => result.failures.length === 0);
  return { results, errors, profile: outcomeProfile, ingestProfile, ok };
}
