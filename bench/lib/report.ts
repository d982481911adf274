/** docs/BENCHMARKS.md: the machine, the command, a table per scenario, the summary, notes. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import type { IngestProfile } from '../scenarios/ingest-profile';
import type { HotSpots } from './profile';
import { type Figure, type ScenarioResult, factor, median, meetsGoal } from './results';

export interface Machine {
  cpus: string;
  memory: string;
  node: string;
  java: string;
  kafka: string;
  kafkajs: string;
  commit: string;
  loadBefore: string;
}

/** The machine, with `node` the binary that runs the service (`--node`) where it is not the bench's own. */
export function describeMachine(rootDir: string, kafka: string, node?: string): Machine {
  const java = spawnSync('java', ['-version'], { encoding: 'utf8' });
  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: rootDir, encoding: 'utf8' });
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no', 'src'], { cwd: rootDir, encoding: 'utf8' });
  const kafkajs = JSON.parse(readFileSync(join(rootDir, 'node_modules/kafkajs/package.json'), 'utf8')) as { version: string };
  const list = cpus();
  return {
    cpus: `${list.length} × ${list[0]?.model.trim() ?? 'unknown'}`,
    memory: `${Math.round(totalmem() / 2 ** 30)} GiB`,
    node: node ? `${nodeVersion(node)} (${node}; the bench and its load generator ${process.version})` : process.version,
    java: (java.stderr || java.stdout || 'not found').split('\n')[0].trim(),
    kafka,
    kafkajs: kafkajs.version,
    commit: `${git.stdout.trim() || 'unknown'}${dirty.stdout.trim() ? ' (src/ with uncommitted changes)' : ''}`,
    loadBefore: loadavg().map((load) => load.toFixed(2)).join(', '),
  };
}

/** What `node --version` says, or why it says nothing. */
function nodeVersion(node: string): string {
  const run = spawnSync(node, ['--version'], { encoding: 'utf8' });
  if (run.error || run.status !== 0) throw new Error(`--node ${node}: cannot run it (${run.error?.message ?? run.stderr.trim()})`);
  return run.stdout.trim();
}

const n0 = (value: number) => Math.round(value).toLocaleString('en');

function formatValue(value: number, unit: string): string {
  if (!Number.isFinite(value)) return '—';
  switch (unit) {
    case 'rec/s':
    case 'req/s':
    case 'records':
    case 'MB':
    case 'wallets':
    case '':
      return n0(value);
    case 'ms':
      return value < 10 ? value.toFixed(2) : value.toFixed(1);
    case 's':
      return value < 10 ? value.toFixed(2) : value.toFixed(1);
    default:
      return value.toFixed(value < 10 ? 2 : 1);
  }
}

function versus(figure: Figure, ours: number, other: number | undefined): string {
  if (other === undefined || !Number.isFinite(ours)) return '';
  if (ours === 0 && figure.better === 'lower') return other === 0 ? 'same' : `none (original ${formatValue(other, figure.unit)})`;
  if (other === 0) return '';
  const times = factor(figure, ours, other);
  return times >= 1 ? `${times.toFixed(times < 10 ? 2 : 1)}× better` : `${(1 / times).toFixed(2)}× worse`;
}

function shareOfCeiling(figure: Figure, ours: number): string {
  if (figure.ceiling === undefined) return '';
  return `${formatValue(figure.ceiling, figure.unit)} (ours ${Math.round((ours / figure.ceiling) * 100)} %)`;
}

function goalText(figure: Figure, ours: number): string {
  const met = meetsGoal(figure, ours);
  if (met === undefined) return '';
  return `${figure.better === 'higher' ? '≥' : '≤'} ${formatValue(figure.goal!, figure.unit)} ${met ? '✅' : '❌'}`;
}

function scenarioTable(result: ScenarioResult): string[] {
  const lines = [
    '| figure | min | median | max | original | vs original | raw ceiling (share) | goal |',
    '| --- | ---: | ---: | ---: | ---: | --- | --- | --- |',
  ];
  for (const figure of result.figures) {
    const ours = median(figure.values);
    const unit = figure.unit ? ` (${figure.unit})` : '';
    const cells = [
      `${figure.label}${unit}${figure.info ? ' ·' : ''}`,
      formatValue(Math.min(...figure.values), figure.unit),
      `**${formatValue(ours, figure.unit)}**`,
      formatValue(Math.max(...figure.values), figure.unit),
      figure.original === undefined ? '' : formatValue(figure.original, figure.unit),
      versus(figure, ours, figure.original),
      shareOfCeiling(figure, ours),
      goalText(figure, ours),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines;
}

export interface Report {
  machine: Machine;
  command: string;
  startedAt: Date;
  seconds: number;
  loadAfter: string;
  results: ScenarioResult[];
  errors: string[];
  profile?: { hotSpots: HotSpots; count: number; seconds: number };
  ingestProfile?: IngestProfile;
  settings: string[];
  /** Observations about the run as a whole (a busy machine, …). */
  notes: string[];
}

export function renderReport(report: Report): string {
  const failures = [...report.errors, ...report.results.flatMap((result) => result.failures.map((failure) => `${result.id}: ${failure}`))];
  const out: string[] = [
    '# Benchmarks',
    '',
    '<!-- Written by `npm run bench` (bench/run.ts); rerun it rather than editing this file. -->',
    '',
    failures.length > 0
      ? `**FAILED**: ${failures.length} correctness problem(s) — a fast wrong answer is a failure, not a figure:\n\n${failures.map((failure) => `- ${failure}`).join('\n')}`
      : '**Every scenario verified its results** (see *Verified* under each). Figures are medians of the repetitions unless a column says otherwise.',
    '',
    '## Machine and run',
    '',
    '| | |',
    '| --- | --- |',
    `| CPU | ${report.machine.cpus} |`,
    `| memory | ${report.machine.memory} |`,
    `| Node.js | ${report.machine.node} |`,
    `| Java | ${report.machine.java} |`,
    `| Kafka | ${report.machine.kafka} |`,
    `| kafkajs | ${report.machine.kafkajs} |`,
    `| commit | ${report.machine.commit} |`,
    `| started | ${report.startedAt.toISOString()} |`,
    `| duration | ${(report.seconds / 60).toFixed(1)} min |`,
    `| load average (1, 5, 15 min) | before ${report.machine.loadBefore}; after ${report.loadAfter} |`,
    `| command | \`${report.command}\` |`,
    '',
    ...report.settings.map((setting) => `- ${setting}`),
    '',
    '## Summary',
    '',
    '| scenario | figure | ours (median) | original | vs original | goal |',
    '| --- | --- | ---: | ---: | --- | --- |',
  ];
  for (const result of report.results) {
    for (const figure of result.figures) {
      if (figure.info || (figure.goal === undefined && figure.original === undefined)) continue;
      const ours = median(figure.values);
      const unit = figure.unit ? ` ${figure.unit}` : '';
      out.push(
        `| ${result.id} | ${figure.label} | ${formatValue(ours, figure.unit)}${unit} | ${figure.original === undefined ? '' : formatValue(figure.original, figure.unit) + unit} | ${versus(figure, ours, figure.original)} | ${goalText(figure, ours)} |`,
      );
    }
  }
  out.push('', 'Columns: *vs original* is how many times better (or worse) our median is; *raw ceiling* is the raw kafkajs figure measured in this run on the same broker, and our share of it; a `·` marks a figure shown for context, without a goal.', '');
  for (const result of report.results) {
    out.push(`## ${result.id}: ${result.title}`, '', result.shape, '', ...scenarioTable(result), '');
    if (result.details && result.details.length > 0) out.push(...result.details, '');
    out.push('**Verified:**', '', ...result.checks.map((check) => `- ${check}`), '');
    if (result.failures.length > 0) out.push('**Failed:**', '', ...result.failures.map((failure) => `- ${failure}`), '');
    if (result.notes && result.notes.length > 0) out.push(...result.notes.map((note) => `> ${note}`), '');
  }
  if (report.ingestProfile) out.push(...depositAccount(report.ingestProfile, report.results.find((result) => result.id === 'B1')));
  if (report.profile) {
    const { hotSpots, count, seconds } = report.profile;
    out.push(
      '## Profile of B2',
      '',
      `One extra B2 run (${count.toLocaleString('en')} deposits, ${seconds.toFixed(1)} s to lag 0 under the profiler) with a CPU profile of the service's processor thread (V8's sampling profiler at 1 ms, the same as \`node --cpu-prof\`, started through \`NODE_OPTIONS=--import bench/lib/cpu-profile.mjs\`; start-up included); ${hotSpots.totalSeconds.toFixed(1)} s of samples, idle excluded. Self time by area, then by function:`,
      '',
      '| area | share |',
      '| --- | ---: |',
      ...hotSpots.areas.map((area) => `| ${area.area} | ${(area.share * 100).toFixed(1)} % |`),
      '',
      '| function | where | share |',
      '| --- | --- | ---: |',
      ...hotSpots.functions.map((fn) => `| \`${fn.name}\` | ${fn.where} | ${(fn.share * 100).toFixed(1)} % |`),
      '',
      "The service's own functions by total time (themselves and all they call):",
      '',
      '| function | where | share |',
      '| --- | --- | ---: |',
      ...hotSpots.ownTotals.map((fn) => `| \`${fn.name}\` | ${fn.where} | ${(fn.share * 100).toFixed(1)} % |`),
      '',
    );
  }
  if (report.notes.length > 0) out.push('## Notes', '', ...report.notes.map((note) => `- ${note}`), '');
  return out.join('\n');
}

/** The threads of `npm start` and the other processes of a B1 run, in the order of a deposit's path. */
const ACCOUNT_PARTS = [
  { part: 'load generator (the bench process)', name: 'the load generator (autocannon, in the bench process)' },
  { part: 'its main (HTTP) thread', name: "the service's main (HTTP) thread", profile: 'http' },
  { part: 'broker', name: 'the broker (Kafka, JVM)' },
  { part: 'its processor thread', name: "the service's processor thread", profile: 'processor' },
  { part: 'its other threads', name: "the service's other threads: V8's collector and compiler helpers, libuv's pool (LevelDB reads and writes), LevelDB's compaction" },
] as const;

/**
 * Where a deposit's CPU goes at B1's largest run of `npm start`: each thread's and process's CPU
 * per accepted deposit (B1's medians), the JS threads' split by area from the profiled run, and
 * what their sum allows on this machine's cores.
 */
function depositAccount(profile: IngestProfile, b1: ScenarioResult | undefined): string[] {
  const mode = `npm start, ${profile.connections.toLocaleString('en')} conn.`;
  const perDeposit = (part: string) => {
    const figure = b1?.figures.find((candidate) => candidate.label === `CPU-s per 1,000 accepted, ${part}, ${mode}`);
    return figure ? median(figure.values) * 1000 : undefined;
  };
  const rate = b1?.figures.find((candidate) => candidate.label === `req/s, ${mode}`);
  const rows: string[] = [];
  let totalUs = 0;
  for (const { part, name, ...rest } of ACCOUNT_PARTS) {
    const us = perDeposit(part);
    if (us === undefined) continue;
    totalUs += us;
    const spots = 'profile' in rest ? profile[rest.profile] : undefined;
    const split = spots ? spots.areas.slice(0, 8).map((area) => `${area.area} ${(area.share * us).toFixed(0)}`).join(', ') : '';
    rows.push(`| ${name} | ${us.toFixed(0)} | ${split} |`);
  }
  const cores = cpus().length;
  if (rows.length === 0) return [];
  const most = (cores * 1e6) / totalUs;
  return [
    `## Where a deposit's CPU goes: B1, ${mode}`,
    '',
    `CPU time per accepted deposit of every thread and process that a deposit passes through, from /proc over B1's runs at ${profile.connections.toLocaleString('en')} connections (medians; the load and the catching up after it), the JavaScript threads split by area (in µs, by the shares of their CPU profiles in one extra run under the profiler, ${profile.durationSeconds} s of load cut from start-up and shutdown, ${Math.round(profile.rate).toLocaleString('en')} deposits/s there).`,
    '',
    '| part | µs per deposit | of which (µs, by area, from the profiles) |',
    '| --- | ---: | --- |',
    ...rows,
    `| **all of them** | **${totalUs.toFixed(0)}** | on ${cores} cores: at most ${Math.round(most).toLocaleString('en')} deposits/s (B1 measured ${rate ? Math.round(median(rate.values)).toLocaleString('en') : '?'}) |`,
    '',
  ];
}
