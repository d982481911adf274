import { type BenchPlan, defaultPlan, runBench } from '../bench/bench';
import { renderReport } from '../bench/lib/report';

/**
 * The bench, CI-sized: a few scenarios with tiny sizes and one repetition, so that it cannot
 * rot. It asserts that every scenario ran and verified its results; never a speed (that is
 * `npm run bench`'s job, on a quiet machine).
 */
describe('npm run bench (smoke)', () => {
  it('runs the core, B1, B2 with B4 and B5, and B6 small, and every one verifies its results', async () => {
    const plan: BenchPlan = {
      ...defaultPlan(),
      reps: 1,
      core: { count: 3000, keys: 300 },
      b1: { connections: [10], durationSeconds: 1, warmUpSeconds: 1, wallets: 50, layouts: ['default', 'split'], keyedConnections: [10] },
      b2: { count: 3000, wallets: 300 },
      b6: { count: 10_000, wallets: 300 },
    };
    const lines: string[] = [];
    const outcome = await runBench({
      rootDir: process.cwd(),
      scenarios: new Set(['core', 'B1', 'B2', 'B4', 'B5', 'B6']),
      plan,
      brokers: process.env.KAFKA_BROKERS,
      port: 0,
      profile: false,
      // A killed processor's partitions move after the session timeout: short here. Info logs,
      // so that a wrong wallet comes with the partitions' joins, restorations and commits.
      serviceEnv: { KAFKA_SESSION_TIMEOUT_MS: '3000', LOG_LEVEL: 'info' },
      log: (line) => lines.push(line),
    });

    expect(outcome.errors).toEqual([]);
    expect(outcome.results.map((result) => result.id)).toEqual(['Core', 'B1', 'B2', 'B4', 'B5', 'B6']);
    for (const result of outcome.results) {
      expect({ id: result.id, failures: result.failures }).toEqual({ id: result.id, failures: [] });
      expect(result.checks.length).toBeGreaterThan(0);
      for (const figure of result.figures) expect(figure.values.every(Number.isFinite)).toBe(true);
    }
    expect(outcome.ok).toBe(true);
    const b1 = outcome.results.find((result) => result.id === 'B1')!;
    expect(b1.figures.map((figure) => figure.label)).toContain('req/s, npm start, keyed, 10 conn.');
    const b6 = outcome.results.find((result) => result.id === 'B6')!;
    expect(b6.figures.find((figure) => figure.label === 'wallets wrong after the restart')?.values).toEqual([0]);

    const markdown = renderReport({
      machine: { cpus: '', memory: '', node: '', java: '', kafka: '', kafkajs: '', commit: '', loadBefore: '' },
      command: 'smoke',
      startedAt: new Date(),
      seconds: 0,
      loadAfter: '',
      results: outcome.results,
      errors: outcome.errors,
      settings: [],
      notes: [],
    });
    expect(markdown).toContain('Every scenario verified its results');
    expect(markdown).toContain('## B6: SIGKILL halfway through B2, restart');
  }, 180_000);
});
