/**
 * Processor groups without the API:
 *   node dist/processor.js                                   all groups
 *   node dist/processor.js --balance --threshold --flagger   any subset
 * The process still serves /health and /metrics on PORT.
 */
import './config/node-version.js';
import './config/heap.js';
import { parseArgs } from 'node:util';
import { launch } from './launch.js';
import { PROCESSOR_NAMES } from './service-options.js';

const HELP = `Usage: node dist/processor.js [--balance] [--threshold] [--flagger]

Runs the chosen processor groups (default: all three) and no API; health and metrics are
served on PORT. Several processes with the same groups share the partitions.`;

const { values } = parseArgs({
  options: {
    balance: { type: 'boolean' },
    threshold: { type: 'boolean' },
    flagger: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});
const chosen = PROCESSOR_NAMES.filter((name) => values[name]);
if (values.help) {
  console.log(HELP);
} else {
  launch({ api: false, processors: chosen.length > 0 ? chosen : PROCESSOR_NAMES });
}
