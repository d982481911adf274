/**
 * npm run bench — issue 7's scenarios against the real service, each verified, side by side
 * with raw kafkajs on the same broker; writes docs/BENCHMARKS.md. Exits non-zero when any
 * scenario computed a wrong result or could not finish. See bench/bench.ts.
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { NODE_ENVIRONMENT, NODE_FLAGS } from '../src/config/node-flags';
import { defaultLocalKafkaOptions } from '../scripts/kafka/launcher';
import { type ScenarioName, SCENARIOS, defaultPlan, runBench, scalePlan } from './bench';
import { describeMachine, renderReport } from './lib/report';

const HELP = `Usage: npm run bench -- [scenario …] [options]

Starts its own Kafka (instance "bench"), runs the service from dist/ on fresh topics and data
for every scenario, generates the load, verifies the results, and writes docs/BENCHMARKS.md.
A full run (every scenario) takes about 25 minutes on a 2-core machine.

Scenarios (default: all): ${SCENARIOS.join(', ')}
  ceiling  raw kafkajs producer and eachBatch consumer on the same broker
  core     the streams core alone (its sum test group): records/s processed, restored cold
  B1       POST /deposit, 100, 1,000 and 2,000 connections, 20 s, as npm start runs it and split;
           at 1,000 also npm start with an Idempotency-Key on every deposit
  B2       1M deposits over 100k wallets, the service as npm start runs it, empty stores, to lag 0
  B3       200k deposits over 100 wallets, the rate in slices
  B4       cold restore of the B2 tables (runs B2)
  B5       restart with local data after SIGTERM and after SIGKILL (runs B2)
  B6       SIGKILL halfway through B2, restart, every balance exact
  B7       GET /check, 100 and 1,000 connections, as npm start runs it
  B8       accept → visible in GET /check at 2,000 deposits/s
  growth   B2 at 100k, 1M and 3M deposits
  partitions  B2 with every topic at 6 and at 48 partitions

Options:
  --reps N          repetitions of each scenario [3]
  --scale F         multiply every size and duration by F, for a quick look [1]
  --port P          client port of the bench's broker [29092]
  --brokers LIST    use this Kafka instead of starting one (host:port,…)
  --node PATH       run the service (and B7's floor servers) on this node binary, e.g. another
                    Node.js release [the one running the bench; the load generator stays on it]
  --out FILE        write the report here [docs/BENCHMARKS.md for a full run on the bench's own
                    node; none otherwise]
  --profile         also profile one B1 and one B2 run, of those asked for [on for a full run]
  --no-profile      do not
  -h, --help`;

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      reps: { type: 'string' },
      scale: { type: 'string' },
      port: { type: 'string' },
      brokers: { type: 'string' },
      node: { type: 'string' },
      out: { type: 'string' },
      profile: { type: 'boolean' },
      'no-profile': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const byName = new Map(SCENARIOS.map((name) => [name.toLowerCase(), name]));
  const unknown = positionals.filter((name) => !byName.has(name.toLowerCase()));
  if (unknown.length > 0) throw new Error(`unknown scenario ${unknown.join(', ')}; choose from ${SCENARIOS.join(', ')}`);
  const full = positionals.length === 0;
  const scenarios = new Set<ScenarioName>(full ? SCENARIOS : positionals.map((name) => byName.get(name.toLowerCase())!));
  const number = (text: string | undefined, fallback: number, what: string, check: (value: number) => boolean) => {
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!check(value)) throw new Error(`--${what} must be ${what === 'scale' ? 'a number > 0' : 'a whole number > 0'}, got "${text}"`);
    return value;
  };
  const reps = number(values.reps, 3, 'reps', (value) => Number.isInteger(value) && value > 0);
  const scale = number(values.scale, 1, 'scale', (value) => value > 0);
  const port = number(values.port, 29092, 'port', (value) => Number.isInteger(value) && value > 0 && value < 65535);
  const plan = { ...scalePlan(defaultPlan(), scale), reps };
  const profile = values['no-profile'] ? false : (values.profile ?? full);
  const out = values.out ?? (full && scale === 1 && !values.node ? 'docs/BENCHMARKS.md' : undefined);

  const rootDir = process.cwd();
  const startedAt = new Date();
  const log = (line: string) => console.log(`[bench ${((Date.now() - startedAt.getTime()) / 1000).toFixed(0).padStart(4)} s] ${line}`);
  const machine = describeMachine(rootDir, values.brokers ? `external (${values.brokers})` : `Apache Kafka ${defaultLocalKafkaOptions(rootDir).version}, KRaft, one node, -Xmx512m (instance "bench", port ${port})`, values.node);
  log(`scenarios: ${[...scenarios].join(', ')}; ${reps} repetition(s)${scale !== 1 ? `, scale ${scale}` : ''}${profile ? '; B1 and B2 profiled' : ''}`);

  const loadBefore = loadavg()[0];
  const outcome = await runBench({ rootDir, scenarios, plan, brokers: values.brokers, node: values.node, port, profile, log });
  const loadAfter = loadavg()[0];
  const notes: string[] = [];
  if (Math.max(loadBefore, loadAfter) > cpus().length * 0.5) {
    notes.push(
      `The 1-minute load average was ${loadBefore.toFixed(1)} before the run and ${loadAfter.toFixed(1)} after it, on ${cpus().length} cores: other work shared the machine, so these figures are lower and noisier than a quiet machine gives. Rerun on a quiet one before comparing with the goals.`,
    );
  }
  if (scale !== 1 || reps < 3) notes.push(`Not a full-size run (scale ${scale}, ${reps} repetition(s)): sizes differ from issue 7's, so the original's figures do not compare.`);
  const markdown = renderReport({
    machine,
    command: ['npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' '),
    startedAt,
    seconds: (Date.now() - startedAt.getTime()) / 1000,
    loadAfter: loadavg().map((load) => load.toFixed(2)).join(', '),
    results: outcome.results,
    errors: outcome.errors,
    profile: outcome.profile,
    ingestProfile: outcome.ingestProfile,
    notes,
    settings: [
      `The service runs from \`dist/\` as it ships, with node's options and environment as \`npm start\` gives them (\`${Object.entries(NODE_ENVIRONMENT).map(([name, value]) => `${name}=${value}`).join(' ')} node ${NODE_FLAGS.join(' ')}\`), in the layout each scenario names: as \`npm start\` runs it (\`node dist/main.js\`: the API and its views on the main thread, balance, threshold and flagger on a processor thread), or split (\`node dist/main.js --no-processors\` and \`node dist/processor.js\`); \`LOG_LEVEL=warn\` (B1: \`info\`, the default), every other setting at its default (6 partitions, \`KAFKA_SESSION_TIMEOUT_MS\` 10000, \`KAFKA_COMMIT_INTERVAL_MS\` 100 and \`KAFKA_COMMIT_INTERVAL_MIN_MS\` 50, \`KAFKA_BATCH_BYTES\` 8 MiB, \`PRODUCE_LINGER_MS\` 2).`,
      'Every scenario runs on fresh topics (a prefix of its own) and fresh `DATA_DIR`s; prefills are real protobuf `Deposit` events (`newDeposit`, the topic codec, `partitionFor`) written by an idempotent acks=all kafkajs producer, with event times 10 per ms, so that a few percent of wallets cross the threshold.',
      'Results are read back independently of the service: the `deposit` topic, and the latest value of every wallet in the `balance-table` and `flagger-table` changelogs (read committed, to the end of the log: a group is done once it has read past the markers of the last transaction on its inputs), compared with sums, counts and the threshold rule recomputed from what was written.',
      'The load generator (autocannon, the prefill producer, the HTTP clients) runs in the bench process on the same machine as the broker and the service: on 2 cores they compete for CPU.',
    ],
  });
  if (out) {
    writeFileSync(resolve(rootDir, out), `${markdown}\n`);
    log(`report written to ${out}`);
  } else {
    console.log(`\n${markdown}`);
  }
  if (outcome.profile?.file) log(`CPU profile of the processor: ${outcome.profile.file}`);
  log(outcome.ok ? 'OK: every scenario verified its results' : 'FAILED: see the report');
  process.exitCode = outcome.ok ? 0 : 1;
}

main().catch((error: unknown) => {
  console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
