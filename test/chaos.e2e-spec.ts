import { defaultChaosOptions, runChaos } from '../scripts/chaos/chaos';
import { exceedsInSomeWindow } from '../scripts/lib/threshold-rule';

/**
 * A short chaos run (the long one is `npm run chaos`): deposits at a steady rate while the
 * processors are killed with SIGKILL five times, the API once and the broker restarted once.
 */
describe('deposits under fire', () => {
  it('counts every acknowledged deposit exactly once and flags exactly the wallets the rule says', async () => {
    const lines: string[] = [];
    const report = await runChaos({
      ...defaultChaosOptions(),
      durationMs: 50_000,
      ratePerSecond: 60,
      wallets: 60,
      processors: 2,
      processorKills: 5,
      apiKills: 1,
      brokerRestarts: 1,
      windowMs: 10_000,
      brokerPort: Number(process.env.CHAOS_KAFKA_PORT ?? 19592),
      log: (line) => lines.push(line),
    });
    process.stderr.write(`\nchaos: ${JSON.stringify({ ...report, problems: report.problems.length })}\n`);

    expect(report.problems).toEqual([]);
    expect(report).toMatchObject({ lost: 0, duplicated: 0, inconsistent: 0, flagMismatches: 0, kills: { processor: 5, api: 1, broker: 1 } });
    expect(report.acknowledged).toBeGreaterThan(1000);
    expect(report.flagged).toBeGreaterThan(0);
    expect(report.flagged).toBeLessThan(report.wallets);
  }, 600_000);

  it('recomputes the rule on the window (t - W, t], strictly over the threshold', () => {
    const at = (s: number, amount: bigint) => ({ acceptedAtMs: s * 1000, amountMinor: amount });

    expect(exceedsInSomeWindow([at(0, 60n), at(119.999, 41n)], 100n, 120_000)).toBe(true);
    expect(exceedsInSomeWindow([at(0, 60n), at(120, 41n)], 100n, 120_000)).toBe(false);
    expect(exceedsInSomeWindow([at(0, 60n), at(1, 40n)], 100n, 120_000)).toBe(false);
  });
});
