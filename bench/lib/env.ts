/**
 * What a bench run stands on: its own broker (or one named by the caller), a kafkajs client
 * and admin for measuring, and the service's processes from dist/, each on fresh topics (a
 * prefix of its own) and fresh data.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Admin, Kafka, logLevel } from 'kafkajs';
import { type LocalKafkaOptions, defaultLocalKafkaOptions, localKafkaPids, startLocalKafka, stopLocalKafka, wipeLocalKafka } from '../../scripts/kafka/launcher';
import { freePort } from '../../scripts/lib/free-port';
import { logEndAdmin } from '../../scripts/lib/kafka-admin';
import { ManagedProcess } from '../../scripts/lib/managed-process';
import { procStatFields } from '../../scripts/lib/proc-stat';

export interface BenchEnvOptions {
  /** The project root (dist/ and .kafka/ are below it). */
  rootDir: string;
  /** Use this cluster instead of starting the bench's own broker. */
  brokers?: string;
  /** Client port of the bench's own broker (instance "bench"). */
  port: number;
  /** Where data folders go; removed at the end. */
  scratchDir: string;
  /** The node binary that runs the service and the floor servers (`--node`); the bench's own by default. */
  node?: string;
  /** Environment given to every service process on top of the bench's own. */
  serviceEnv?: Record<string, string>;
  log: (line: string) => void;
}

/** Peak resident memory and CPU time of a live process, from /proc. */
export function processUsage(pid: number): { peakRssMb: number; cpuSeconds: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const hwmKb = Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
  // utime is field 14, stime 15.
  const fields = procStatFields(`/proc/${pid}/stat`);
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { peakRssMb: hwmKb / 1024, cpuSeconds: ticks / CLOCK_TICKS };
}

/** CPU time of one thread of a live process (its main thread when `tid` is the pid), from /proc. */
function threadCpuSeconds(pid: number, tid: number): number {
  const fields = procStatFields(`/proc/${pid}/task/${tid}/stat`);
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** CPU time of every thread of a live process, by thread id; threads gone meanwhile are missing. */
export function threadsCpuSeconds(pid: number): Map<number, number> {
  const threads = new Map<number, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      threads.set(Number(tid), threadCpuSeconds(pid, Number(tid)));
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return threads;
}

/**
 * A service process's CPU seconds by thread, as `npm start` runs it: its main thread (HTTP and the
 * views), its processor thread (the busiest of the others: one by default), and the rest (V8's
 * collector and compiler helpers, libuv's pool with LevelDB's reads and writes, LevelDB's
 * compaction). `total` is the process's, which also counts threads that have ended.
 */
export function splitByThread(threads: Map<number, number>, pid: number, total: number): { main: number; processor: number; others: number } {
  const main = threads.get(pid) ?? 0;
  const processor = Math.max(0, ...[...threads].filter(([tid]) => tid !== pid).map(([, seconds]) => seconds));
  return { main, processor, others: Math.max(0, total - main - processor) };
}

// sysconf(_SC_CLK_TCK): 100 on every Linux Node runs on.
const CLOCK_TICKS = 100;

/** A process of the service, started from dist/. */
export class ServiceProcess {
  readonly url: string;
  readonly startedAt = Date.now();

  constructor(
    readonly process: ManagedProcess,
    readonly port: number,
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  get pid(): number {
    return this.process.pid;
  }

  usage() {
    return processUsage(this.process.pid);
  }

  /**
   * Throws when it has exited, with how, and its last lines other than request logs: under load
   * a thousand of those a second bury the line that says why.
   */
  assertAlive(): void {
    if (this.process.running) return;
    const said = this.process.output.filter((line) => !line.includes('"req":{')).slice(-20);
    throw new Error(`${this.process.name} exited (${this.process.exitStatus}):\n${said.join('\n')}`);
  }

  /** Waits until GET `path` answers 200; resolves with the time it did. */
  async waitFor(path: string, timeoutMs = 120_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      this.assertAlive();
      const status = await fetch(`${this.url}${path}`, { signal: AbortSignal.timeout(5000) }).then((response) => response.status, () => 0);
      if (status === 200) return Date.now();
      await sleep(100);
    }
    throw new Error(`${this.process.name}: ${path} not 200 within ${timeoutMs / 1000} s:\n${this.process.output.slice(-20).join('\n')}`);
  }

  async json<T>(path: string): Promise<T> {
    const response = await fetch(`${this.url}${path}`, { signal: AbortSignal.timeout(10_000) });
    if (response.status !== 200) throw new Error(`GET ${path}: ${response.status}`);
    return (await response.json()) as T;
  }

  async text(path: string): Promise<string> {
    const response = await fetch(`${this.url}${path}`, { signal: AbortSignal.timeout(10_000) });
    return response.text();
  }

  stop(signal: NodeJS.Signals = 'SIGTERM') {
    return this.process.kill(signal);
  }
}

/** Kafka transactions the processor groups of a process committed, summed, from its /metrics text. */
export function groupTransactions(metrics: string): number {
  return [...metrics.matchAll(/^stream_group_transactions_total\{[^}]*\} (\S+)$/gm)].reduce((sum, match) => sum + Number(match[1]), 0);
}

export interface ServiceSpec {
  prefix: string;
  dataDir: string;
  /** Extra environment, e.g. NODE_OPTIONS for a CPU profile. */
  env?: Record<string, string>;
  /** Keep only this many of the last output lines (LOG_LEVEL=info logs every request). */
  keepLines?: number;
}

export class BenchEnv {
  readonly kafka: Kafka;
  readonly admin: Admin;
  private readonly processes = new Set<ServiceProcess>();
  private readonly runTag = randomUUID().slice(0, 6);
  private sequence = 0;

  private constructor(
    readonly options: BenchEnvOptions,
    readonly brokers: string,
    private readonly ownBroker: LocalKafkaOptions | undefined,
  ) {
    this.kafka = new Kafka({ brokers: brokers.split(','), clientId: 'bench', logLevel: logLevel.NOTHING });
    this.admin = logEndAdmin(this.kafka);
  }

  static async start(options: BenchEnvOptions): Promise<BenchEnv> {
    let brokers = options.brokers;
    let own: LocalKafkaOptions | undefined;
    if (!brokers) {
      own = { ...defaultLocalKafkaOptions(options.rootDir), instance: 'bench', port: options.port, log: (line) => options.log(`kafka: ${line}`) };
      // Fresh data every run: figures never depend on what an earlier run left.
      await stopLocalKafka(own);
      wipeLocalKafka(own);
      brokers = (await startLocalKafka(own)).brokers;
    }
    mkdirSync(options.scratchDir, { recursive: true });
    const env = new BenchEnv(options, brokers, own);
    await env.admin.connect();
    return env;
  }

  /** A topic and group prefix of its own (fresh topics, fresh groups). */
  prefix(name: string): string {
    return `bench-${this.runTag}-${name}-${++this.sequence}-`;
  }

  /** A fresh, empty data folder. */
  dataDir(name: string): string {
    const dir = join(this.options.scratchDir, `${name}-${++this.sequence}`);
    rmSync(dir, { recursive: true, force: true });
    return dir;
  }

  private async spawn(name: string, script: string, args: string[], spec: ServiceSpec): Promise<ServiceProcess> {
    const port = await freePort();
    const child = new ManagedProcess(name, join(this.options.rootDir, script), args, {
      KAFKA_BROKERS: this.brokers,
      KAFKA_TOPIC_PREFIX: spec.prefix,
      KAFKA_PARTITIONS: '6',
      DATA_DIR: spec.dataDir,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      LOG_FORMAT: 'json',
      ...this.options.serviceEnv,
      ...spec.env,
    }, { keepLines: spec.keepLines, node: this.options.node });
    const service = new ServiceProcess(child, port);
    this.processes.add(service);
    void child.exited.then(() => this.processes.delete(service));
    return service;
  }

  /** A Node.js script of the bench's own (a floor server), listening on the PORT it is given. */
  async benchServer(name: string, script: string, args: string[] = []): Promise<ServiceProcess> {
    const port = await freePort();
    const child = new ManagedProcess(name, join(this.options.rootDir, script), args, { PORT: String(port) }, { node: this.options.node });
    const server = new ServiceProcess(child, port);
    this.processes.add(server);
    void child.exited.then(() => this.processes.delete(server));
    return server;
  }

  /** node dist/main.js as `npm start` runs it: the API, and the three groups on processor threads. */
  main(spec: ServiceSpec, name = 'service'): Promise<ServiceProcess> {
    return this.spawn(name, 'dist/main.js', [], spec);
  }

  /** Established TCP connections from process `pid` to the bench's broker (its client port). */
  brokerConnections(pid: number): number {
    const port = Number(this.brokers.split(',')[0].split(':').at(-1));
    const sockets = new Set<string>();
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      const target = (() => {
        try {
          return readlinkSync(`/proc/${pid}/fd/${fd}`);
        } catch {
          return '';
        }
      })();
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode) sockets.add(inode);
    }
    let count = 0;
    for (const table of ['tcp', 'tcp6']) {
      for (const line of readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1)) {
        const fields = line.trim().split(/\s+/);
        // rem_address is field 2 (hex address:port), st field 3 (01 = ESTABLISHED), inode field 9.
        if (fields.length > 9 && fields[3] === '01' && parseInt(fields[2].split(':')[1], 16) === port && sockets.has(fields[9])) count++;
      }
    }
    return count;
  }

  /** Process ids of the bench's own broker (none when it uses a cluster it was given). */
  brokerPids(): number[] {
    return this.ownBroker ? localKafkaPids(this.ownBroker) : [];
  }

  /** node dist/processor.js: the three groups, no API. */
  processor(spec: ServiceSpec, name = 'processor'): Promise<ServiceProcess> {
    return this.spawn(name, 'dist/processor.js', [], spec);
  }

  /** node dist/main.js --no-processors: the API alone. */
  api(spec: ServiceSpec, name = 'api'): Promise<ServiceProcess> {
    return this.spawn(name, 'dist/main.js', ['--no-processors'], spec);
  }

  /** Stops every process of the service still running (SIGKILL: their data is thrown away). */
  async stopServices(): Promise<void> {
    await Promise.all([...this.processes].map((service) => service.stop('SIGKILL')));
  }

  /** Deletes the topics of a finished scenario, so that the broker does not grow through the run. */
  async dropTopics(prefix: string): Promise<void> {
    const names = (await this.admin.listTopics()).filter((topic) => topic.startsWith(prefix));
    if (names.length > 0) await this.admin.deleteTopics({ topics: names, timeout: 30_000 }).catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.stopServices();
    await this.admin.disconnect().catch(() => undefined);
    if (this.ownBroker) {
      await stopLocalKafka(this.ownBroker);
      wipeLocalKafka(this.ownBroker);
    }
    rmSync(this.options.scratchDir, { recursive: true, force: true });
  }
}
