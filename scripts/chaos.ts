/**
 * npm run chaos — deposits under fire: processors killed with SIGKILL, the API killed, the
 * broker restarted; then checks that every acknowledged deposit counts exactly once and every
 * flag follows the rule. Exits non-zero on any difference. See scripts/chaos/chaos.ts.
 */
import { parseArgs } from 'node:util';
import { defaultChaosOptions, runChaos } from './chaos/chaos';

const HELP = `Usage: npm run chaos -- [options]

Runs its own Kafka (instance "chaos"), the API and processor processes from dist/, sends
deposits at a steady rate and kills things; then verifies every wallet.

Options (defaults in brackets):
  --duration S          seconds of load [180]
  --rate N              deposits per second [200]
  --wallets N           distinct wallets [400]
  --processors N        processor processes [2]
  --processor-kills N   SIGKILLs of a processor [8]
  --api-kills N         SIGKILLs of the API [1]
  --broker-restarts N   broker stops and starts [1]
  --window-ms MS        THRESHOLD_WINDOW_MS of the service [120000]
  --port P              client port of the chaos broker [19592]
  -h, --help`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string' },
      rate: { type: 'string' },
      wallets: { type: 'string' },
      processors: { type: 'string' },
      'processor-kills': { type: 'string' },
      'api-kills': { type: 'string' },
      'broker-restarts': { type: 'string' },
      'window-ms': { type: 'string' },
      port: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const options = defaultChaosOptions();
  const number = (name: keyof typeof values, fallback: number) => {
    const text = values[name];
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} must be a whole number, got "${text}"`);
    return value;
  };
  options.durationMs = number('duration', options.durationMs / 1000) * 1000;
  options.ratePerSecond = number('rate', options.ratePerSecond);
  options.wallets = number('wallets', options.wallets);
  options.processors = number('processors', options.processors);
  options.processorKills = number('processor-kills', options.processorKills);
  options.apiKills = number('api-kills', options.apiKills);
  options.brokerRestarts = number('broker-restarts', options.brokerRestarts);
  options.windowMs = number('window-ms', options.windowMs);
  options.brokerPort = number('port', options.brokerPort);
  const started = Date.now();
  options.log = (line) => console.log(`[chaos ${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`);

  const report = await runChaos(options);
  console.log(`
acknowledged  ${report.acknowledged} of ${report.sent} sent
counted       ${report.counted} (${report.countedUnacknowledged} of them without a 2xx: Kafka took them, the answer was lost)
lost          ${report.lost}
duplicated    ${report.duplicated}
inconsistent  ${report.inconsistent} wallets (balance or count against history)
flags         ${report.flagged} of ${report.wallets} wallets flagged; ${report.flagMismatches} differ from the rule
survived      ${report.kills.processor} processor SIGKILLs, ${report.kills.api} API SIGKILL, ${report.kills.broker} broker restart
${report.problems.map((problem) => `problem: ${problem}`).join('\n')}
${report.ok ? 'OK' : 'FAILED'}`);
  process.exitCode = report.ok ? 0 : 1;
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
