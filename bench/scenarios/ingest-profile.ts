/**
 * Where a deposit's time goes under load: one extra B1 run (npm start as it ships, info logs)
 * under V8's sampling profiler, with a CPU profile of its main (HTTP) thread and of its
 * processor thread, cut to the load itself (start-up, the warm-up that B1's runs have too,
 * catching up and shutdown left out). The B1 runs measure how much CPU each thread spends per
 * deposit; this run says on what.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchEnv } from '../lib/env';
import { waitForZeroLag } from '../lib/kafka';
import { type HotSpots, hotSpots } from '../lib/profile';
import { depositLoad, startLayout } from './ingest';

export interface IngestProfileOptions {
  connections: number;
  durationSeconds: number;
  /** Seconds of the same load first, outside the profiles' window, as B1's runs have. */
  warmUpSeconds: number;
  wallets: number;
  /** bench/lib/cpu-profile.mjs, preloaded into every thread of the service. */
  preload: string;
  /** Where the service writes its profiles when it exits. */
  profileDir: string;
}

export interface IngestProfile {
  connections: number;
  durationSeconds: number;
  /** Deposits per second under the profiler (it slows the service down). */
  rate: number;
  http: HotSpots;
  processor: HotSpots;
}

export async function profileIngest(env: BenchEnv, options: IngestProfileOptions): Promise<IngestProfile> {
  const prefix = env.prefix('b1-profile');
  const { api: service } = await startLayout(env, 'default', prefix, { NODE_OPTIONS: `--import=${options.preload}`, BENCH_CPU_PROFILE_DIR: options.profileDir });
  try {
    const run = depositLoad({ url: service.url, connections: options.connections, wallets: options.wallets, seed: 7000 });
    const caughtUp = () => waitForZeroLag(env.admin, prefix, 300_000, () => service.assertAlive());
    await run(options.warmUpSeconds);
    await caughtUp();
    // The profiles' clock is the machine's monotonic clock, which process.hrtime reads too.
    const fromUs = Number(process.hrtime.bigint() / 1000n);
    const load = await run(options.durationSeconds);
    const toUs = Number(process.hrtime.bigint() / 1000n);
    await caughtUp();
    await service.stop('SIGTERM');
    // One profile per thread, named <pid>-<threadId>: 0 is the main thread, 1 the processor thread.
    const profile = (threadId: number) => {
      const path = join(options.profileDir, `${service.pid}-${threadId}.cpuprofile`);
      if (!existsSync(path)) throw new Error(`the service wrote no CPU profile of thread ${threadId} (${path})`);
      return hotSpots(path, 12, { fromUs, toUs });
    };
    return {
      connections: options.connections,
      durationSeconds: options.durationSeconds,
      rate: load.requestsPerSecond,
      http: profile(0),
      processor: profile(1),
    };
  } finally {
    await service.stop('SIGKILL');
    await env.dropTopics(prefix);
  }
}
