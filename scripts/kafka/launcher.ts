/**
 * A local Apache Kafka in KRaft mode for development, tests and benchmarks: no Docker, just
 * `java` and the broker's jars resolved from Maven Central with `mvn`.
 *
 * Everything lives under `<root>/.kafka/` (git-ignored): `lib/<version>/` holds the jars,
 * `<instance>/node-<i>/` the config, data, log and pid of each node. An instance is a cluster
 * of one or more nodes, each broker and controller at once, on loopback ports:
 * node i listens for clients on `port + 2i` and for its controller quorum on `port + 2i + 1`.
 * With `sasl`, the client listener (also used between brokers) is SASL_PLAINTEXT with
 * SCRAM-SHA-256 and SCRAM-SHA-512; the controller listener stays PLAINTEXT on loopback.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel } from 'kafkajs';
import { installCheckingOnlyWhatIsHeldBack } from '../../src/streams/kafkajs-cluster';
import { freePort } from '../lib/free-port';

// kafkajs's request queues arm a timer of negative delay after every answer, which Node 24 and
// later report as a TimeoutNegativeWarning at every start; the core's fix, as the service has it.
// Where modules are CommonJS (npm start, npm run kafka:*, jest's global setup), not in jest's ESM mode.
if (typeof require === 'function' && typeof module === 'object') installCheckingOnlyWhatIsHeldBack();

export interface LocalKafkaOptions {
  /** The project root; `.kafka/` is created below it. */
  rootDir: string;
  /** Instance name: a folder under `.kafka/`; separate instances need separate ports. */
  instance: string;
  /** Client port of the first node. */
  port: number;
  /** Number of nodes (brokers and controllers at once). */
  nodes: number;
  /** Apache Kafka version, as published on Maven Central (`org.apache.kafka:kafka_2.13`). */
  version: string;
  /** How long to wait for the cluster to answer, in ms. */
  timeoutMs: number;
  /** JVM heap per node, in MB. */
  heapMb: number;
  /**
   * SCRAM credentials: the client listener requires SASL (SCRAM-SHA-256 or -512) and this
   * user is created when the storage is formatted. Brokers talk to each other as this user.
   */
  sasl?: LocalKafkaSasl;
  /** Extra broker properties, written into every node's server.properties. */
  extraProperties?: Record<string, string>;
  /** Progress lines go here (default: nowhere). */
  log?: (line: string) => void;
}

export interface LocalKafkaSasl {
  /** 1–64 characters of `[A-Za-z0-9._-]`. */
  username: string;
  /** 1–128 printable ASCII characters, without space, `"`, `\`, `,`, `[`, `]` or `=`. */
  password: string;
}

export const defaultLocalKafkaOptions = (rootDir: string): LocalKafkaOptions => ({
  rootDir,
  instance: 'local',
  port: 9092,
  nodes: 1,
  version: '3.9.1',
  timeoutMs: 90_000,
  heapMb: 512,
});

export interface LocalKafkaStatus {
  /** `host:port,…` of every node, for KAFKA_BROKERS. */
  brokers: string;
  /** Nodes whose process runs. */
  running: number[];
  /** Nodes configured under the instance folder. */
  nodes: number;
  /** The SCRAM user when the instance requires SASL. */
  saslUsername?: string;
}

/** A one-line, user-facing failure: the CLI prints its message without a stack. */
export class LocalKafkaError extends Error {}

const HOST = '127.0.0.1';

interface NodeInfo {
  id: number;
  dir: string;
  clientPort: number;
  controllerPort: number;
}

/** What an instance was formatted with; a start with other settings is refused. */
interface InstanceRecord {
  nodes: number;
  sasl?: { username: string; digest: string };
}

interface PidFile {
  pid: number;
  clientPort: number;
  version: string;
  startedAt: string;
  /** Where the class archive this node writes as it stops goes (absent: it writes none). */
  classArchive?: string;
}

function nodesOf(options: LocalKafkaOptions): NodeInfo[] {
  return Array.from({ length: options.nodes }, (_, i) => ({
    id: i + 1,
    dir: join(instanceDir(options), `node-${i + 1}`),
    clientPort: options.port + 2 * i,
    controllerPort: options.port + 2 * i + 1,
  }));
}

const instanceDir = (options: LocalKafkaOptions) => join(resolve(options.rootDir), '.kafka', options.instance);
const libDir = (options: LocalKafkaOptions) => join(resolve(options.rootDir), '.kafka', 'lib', options.version);
const brokersOf = (options: LocalKafkaOptions) =>
  nodesOf(options)
    .map((node) => `${HOST}:${node.clientPort}`)
    .join(',');

function requireTool(command: string, args: string[], hint: string): void {
  const probe = spawnSync(command, args, { stdio: 'ignore' });
  if (probe.error) throw new LocalKafkaError(`${command} not found on PATH: ${hint}`);
}

const JAVA_HINT = 'install Java 17 or newer, or point KAFKA_BROKERS at a running Kafka';

let javaBuild: string | undefined;

/**
 * Java 17 or newer on PATH, or one clear line saying what is missing. Returns what `java -version`
 * says, which names the JVM's build.
 */
function requireJava(): string {
  if (javaBuild !== undefined) return javaBuild;
  const probe = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (probe.error) throw new LocalKafkaError(`java not found on PATH: ${JAVA_HINT}`);
  // `java -version` prints e.g. 'openjdk version "17.0.15"' (or "1.8.0_392" before Java 9) on stderr.
  const said = `${probe.stderr}${probe.stdout}`;
  const version = /version "(\d+)(?:\.(\d+))?/.exec(said);
  const major = version ? (version[1] === '1' ? Number(version[2]) : Number(version[1])) : undefined;
  if (major !== undefined && major < 17) throw new LocalKafkaError(`java on PATH is Java ${major}; Apache Kafka needs Java 17 or newer: ${JAVA_HINT}`);
  javaBuild = said;
  return said;
}

/**
 * The broker's classes as the JVM holds them once loaded and verified (AppCDS, a dynamic archive
 * over the JDK's own). A start that maps them from this file instead of reading them from the jars
 * was ready after 2.0-2.8 s against 3.1-3.8 s, and had spent 2.4-2.9 against 4.1-4.6 CPU-s 2 s
 * later (three interleaved pairs, 2 cores). A node started without one writes it as it stops (see
 * `launch` and `stopNode`), and `npm run kafka:jars` makes one ahead ({@link prepareClassArchive}).
 * One file per JVM build: a JVM refuses an archive of another build, and starts without it.
 */
function classArchive(lib: string): string {
  const build = createHash('sha256').update(requireJava()).digest('hex').slice(0, 12);
  return join(lib, `classes-${build}.jsa`);
}

/**
 * A JVM without the JDK's own class archive (`java -version` does not say "sharing") refuses to
 * start when asked to write one over it.
 */
const canWriteClassArchive = () => /\bsharing\b/.test(requireJava());

/**
 * A JVM's options to load the broker's classes from their archive, or, for a node (the storage
 * tool has none) when there is no archive yet, to write it as it exits into `writesTo`. Quiet:
 * writing an archive names every class it leaves out (old bytecode, classes never linked), and a
 * JVM that cannot map one says so and goes on without it.
 */
function classSharing(lib: string, node?: NodeInfo): { options: string[]; writesTo?: string } {
  const archive = classArchive(lib);
  if (existsSync(archive)) return { options: [`-XX:SharedArchiveFile=${archive}`, '-Xlog:cds*=off'] };
  if (!node || !canWriteClassArchive()) return { options: [] };
  return { options: [`-XX:ArchiveClassesAtExit=${pendingArchive(node)}`, '-Xlog:cds*=off'], writesTo: archive };
}

/**
 * Resolves the broker's jars from Maven Central into `.kafka/lib/<version>` unless they are
 * there already (a marker file is written last, so an interrupted download is redone).
 */
export function ensureJars(options: LocalKafkaOptions): string {
  const dir = libDir(options);
  const marker = join(dir, '.complete');
  requireJava();
  if (existsSync(marker)) return dir;
  requireTool('mvn', ['-v'], 'install Apache Maven, or point KAFKA_BROKERS at a running Kafka');
  options.log?.(`resolving Apache Kafka ${options.version} jars from Maven Central into ${dir}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const pom = join(resolve(options.rootDir), 'kafka', 'pom.xml');
  const mvn = spawnSync(
    'mvn',
    [
      '-q',
      '-B',
      '-f',
      pom,
      `-Dkafka.version=${options.version}`,
      'dependency:copy-dependencies',
      `-DoutputDirectory=${dir}`,
      '-DincludeScope=runtime',
    ],
    { encoding: 'utf8' },
  );
  if (mvn.status !== 0) {
    const output = `${mvn.stdout}${mvn.stderr}`.trim().split('\n').slice(-5).join('\n');
    throw new LocalKafkaError(`mvn could not resolve org.apache.kafka:kafka_2.13:${options.version}:\n${output}`);
  }
  writeFileSync(marker, `${new Date().toISOString()}\n`);
  return dir;
}

function serverProperties(options: LocalKafkaOptions, node: NodeInfo): string {
  const nodes = nodesOf(options);
  const replication = Math.min(3, nodes.length);
  const client = options.sasl ? 'SASL_PLAINTEXT' : 'PLAINTEXT';
  const properties: Record<string, string> = {
    'process.roles': 'broker,controller',
    'node.id': String(node.id),
    'controller.quorum.voters': nodes.map((n) => `${n.id}@${HOST}:${n.controllerPort}`).join(','),
    listeners: `${client}://${HOST}:${node.clientPort},CONTROLLER://${HOST}:${node.controllerPort}`,
    'advertised.listeners': `${client}://${HOST}:${node.clientPort}`,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': client,
    'listener.security.protocol.map': `CONTROLLER:PLAINTEXT,${client}:${client}`,
    ...(options.sasl ? saslProperties(options.sasl) : {}),
    'log.dirs': join(node.dir, 'data'),
    // The service creates its topics itself and refuses to start on a mismatch.
    'auto.create.topics.enable': 'false',
    'num.partitions': '6',
    'default.replication.factor': String(replication),
    'offsets.topic.replication.factor': String(replication),
    'offsets.topic.num.partitions': '10',
    'transaction.state.log.replication.factor': String(replication),
    'transaction.state.log.min.isr': String(Math.min(2, replication)),
    'transaction.state.log.num.partitions': '10',
    // A lone consumer joining an empty group should not wait 3 s for company.
    'group.initial.rebalance.delay.ms': '0',
    // Lets tests and benchmarks use short consumer sessions (the default minimum is 6 s).
    'group.min.session.timeout.ms': '1000',
    'log.cleaner.backoff.ms': '1000',
    // A broker learns of a new topic only when its Raft fetch returns, which without new
    // metadata records waits for the controller's idle no-op record (every 500 ms by default).
    // Meanwhile it answers UNKNOWN_TOPIC_OR_PARTITION, which kafkajs's createTopics
    // (waitForLeaders) does not retry: measured, 14 of 20 creations failed at 500 ms, 0 of 40 at 20.
    ...(nodes.length > 1 ? { 'metadata.max.idle.interval.ms': '20' } : {}),
    ...options.extraProperties,
  };
  return Object.entries(properties)
    .map(([key, value]) => `${key}=${value}`)
    .join('\n')
    .concat('\n');
}

/**
 * SCRAM on the client listener, which is also the inter-broker one: KRaft keeps SCRAM
 * credentials in the metadata log, so the user is created at format time (`--add-scram`) and
 * brokers authenticate to each other with it. Controllers cannot use SCRAM among themselves
 * (the credentials live in the log they replicate), hence the PLAINTEXT controller listener.
 */
function saslProperties(sasl: LocalKafkaSasl): Record<string, string> {
  const login = `org.apache.kafka.common.security.scram.ScramLoginModule required username="${sasl.username}" password="${sasl.password}";`;
  return {
    'sasl.enabled.mechanisms': 'SCRAM-SHA-256,SCRAM-SHA-512',
    'sasl.mechanism.inter.broker.protocol': 'SCRAM-SHA-256',
    'listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config': login,
    'listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config': login,
  };
}

/** Refuses credentials that the StorageTool's `--add-scram` parser or a JAAS string would mangle. */
function checkSasl(sasl: LocalKafkaSasl): void {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(sasl.username)) {
    throw new LocalKafkaError('the SASL username must be 1-64 characters of A-Z a-z 0-9 . _ -');
  }
  if (!/^[\x21-\x7e]{1,128}$/.test(sasl.password) || /["\\,[\]=]/.test(sasl.password)) {
    throw new LocalKafkaError('the SASL password must be 1-128 printable ASCII characters without space, ", \\, comma, [, ] or =');
  }
}

const saslDigest = (sasl: LocalKafkaSasl) => createHash('sha256').update(`${sasl.username}\0${sasl.password}`).digest('hex');

const LOG4J = `log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.org.apache.kafka.controller=INFO
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.log.LogCleaner=INFO
`;

function readPid(node: NodeInfo): PidFile | undefined {
  try {
    return JSON.parse(readFileSync(join(node.dir, 'pid.json'), 'utf8')) as PidFile;
  } catch {
    return undefined;
  }
}

/** True when `pid` runs and is the JVM started for this node (a recycled pid is not). */
function isOurProcess(pid: number, node: NodeInfo): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes(join(node.dir, 'server.properties'));
  } catch {
    return false;
  }
}

function runningPid(node: NodeInfo): number | undefined {
  const file = readPid(node);
  return file && isOurProcess(file.pid, node) ? file.pid : undefined;
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = createConnection({ host: HOST, port });
    const finish = (answer: boolean) => {
      socket.destroy();
      done(answer);
    };
    socket.setTimeout(1000, () => finish(false));
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log written)';
  }
}

/** A cluster id as Kafka makes them: 16 random bytes in base64url, never starting with '-' (a command-line option to the storage tool). */
function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

function format(options: LocalKafkaOptions, node: NodeInfo, lib: string, clusterId: string): void {
  mkdirSync(join(node.dir, 'data'), { recursive: true });
  writeFileSync(join(node.dir, 'server.properties'), serverProperties(options, node));
  writeFileSync(join(node.dir, 'log4j.properties'), LOG4J);
  const result = spawnSync(
    'java',
    [
      ...classSharing(lib).options,
      '-cp',
      `${lib}/*`,
      `-Dlog4j.configuration=file:${join(node.dir, 'log4j.properties')}`,
      'kafka.tools.StorageTool',
      'format',
      '--ignore-formatted',
      '-t',
      clusterId,
      '-c',
      join(node.dir, 'server.properties'),
      ...(options.sasl
        ? ['SCRAM-SHA-256', 'SCRAM-SHA-512'].flatMap((mechanism) => [
            '--add-scram',
            `${mechanism}=[name=${options.sasl!.username},password=${options.sasl!.password}]`,
          ])
        : []),
    ],
    { encoding: 'utf8' },
  );
  if (result.status !== 0) {
    throw new LocalKafkaError(`formatting the storage of node ${node.id} failed: ${(result.stderr || result.stdout || String(result.error)).trim()}`);
  }
}

function launch(options: LocalKafkaOptions, node: NodeInfo, lib: string): ChildProcess {
  const logFile = join(node.dir, 'server.log');
  const out = openSync(logFile, 'a');
  const sharing = classSharing(lib, node);
  // What an earlier JVM of this node wrote may be partial: it was not this launcher that stopped it.
  rmSync(pendingArchive(node), { force: true });
  const child = spawn(
    'java',
    [
      `-Xmx${options.heapMb}m`,
      `-Xms${options.heapMb}m`,
      '-XX:+UseG1GC',
      '-XX:MaxGCPauseMillis=20',
      ...sharing.options,
      '-Djava.awt.headless=true',
      `-Dlog4j.configuration=file:${join(node.dir, 'log4j.properties')}`,
      '-cp',
      `${lib}/*`,
      'kafka.Kafka',
      join(node.dir, 'server.properties'),
    ],
    { detached: true, stdio: ['ignore', out, out] },
  );
  closeSync(out);
  if (child.pid === undefined) throw new LocalKafkaError(`could not start java for node ${node.id}: ${JAVA_HINT}`);
  const pidFile: PidFile = {
    pid: child.pid,
    clientPort: node.clientPort,
    version: options.version,
    startedAt: new Date().toISOString(),
    ...(sharing.writesTo && { classArchive: sharing.writesTo }),
  };
  writeFileSync(join(node.dir, 'pid.json'), JSON.stringify(pidFile));
  child.unref();
  return child;
}

/**
 * Waits until the cluster answers a metadata request with every node and the group
 * coordinator answers, so that the first consumer group of a client does not meet
 * "coordinator is loading" errors.
 */
async function waitUntilReady(options: LocalKafkaOptions, deadline: number, children: ChildProcess[]): Promise<void> {
  const kafka = new Kafka({
    brokers: brokersOf(options).split(','),
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
    ...(options.sasl && { sasl: { mechanism: 'scram-sha-256', ...options.sasl } }),
  });
  let lastError = 'no answer';
  while (Date.now() < deadline) {
    const dead = children.find((child) => child.exitCode !== null);
    if (dead) throw new LocalKafkaError(`a Kafka node exited with code ${dead.exitCode} during start-up`);
    const admin = kafka.admin();
    try {
      await admin.connect();
      const cluster = await admin.describeCluster();
      if (cluster.brokers.length < options.nodes) throw new Error(`${cluster.brokers.length} of ${options.nodes} brokers up`);
      await admin.describeGroups(['depositaja-launcher-probe']);
      return;
    } catch (error) {
      lastError = (error as Error).message;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    await sleep(250);
  }
  throw new LocalKafkaError(`last error: ${lastError}`);
}

/**
 * What the instance was formatted with, or undefined when it was never (completely) formatted.
 * Instances formatted before the record existed had no SASL and as many nodes as folders.
 */
function readInstanceRecord(options: LocalKafkaOptions): InstanceRecord | undefined {
  try {
    return JSON.parse(readFileSync(join(instanceDir(options), 'instance.json'), 'utf8')) as InstanceRecord;
  } catch {
    const nodes = configuredNodes(options);
    const formatted = nodes > 0 && nodesOf({ ...options, nodes }).every((node) => existsSync(join(node.dir, 'data', 'meta.properties')));
    return formatted ? { nodes } : undefined;
  }
}

/** Refuses to start an instance with a shape or credentials other than those it was formatted with. */
function checkSameShape(options: LocalKafkaOptions, record: InstanceRecord): void {
  const fresh = `stop it and delete ${instanceDir(options)} to re-create it, or choose another --instance`;
  if (record.nodes !== options.nodes) {
    throw new LocalKafkaError(`instance "${options.instance}" has ${record.nodes} node(s), not ${options.nodes}: start it with --brokers ${record.nodes}, or ${fresh}`);
  }
  if (!record.sasl !== !options.sasl) {
    const was = record.sasl ? `with SASL (user "${record.sasl.username}")` : 'without SASL';
    throw new LocalKafkaError(`instance "${options.instance}" was created ${was}: start it the same way, or ${fresh}`);
  }
  if (record.sasl && options.sasl && record.sasl.digest !== saslDigest(options.sasl)) {
    throw new LocalKafkaError(`instance "${options.instance}" was created with other SASL credentials: ${fresh}`);
  }
}

/**
 * Starts the instance, or reuses it when it runs already. Returns the bootstrap servers and
 * whether this call started anything (so that a caller stops only what it started).
 */
export async function startLocalKafka(options: LocalKafkaOptions): Promise<{ brokers: string; started: boolean }> {
  if (options.sasl) checkSasl(options.sasl);
  const nodes = nodesOf(options);
  const brokers = brokersOf(options);
  const record = readInstanceRecord(options);
  if (record) checkSameShape(options, record);
  const running = nodes.filter((node) => runningPid(node) !== undefined);
  for (const node of running) {
    const port = readPid(node)?.clientPort;
    if (port !== node.clientPort) {
      throw new LocalKafkaError(`node ${node.id} of instance "${options.instance}" runs on port ${port}, not ${node.clientPort}; stop it first`);
    }
  }
  if (running.length === nodes.length) {
    await waitUntilReady(options, Date.now() + options.timeoutMs, []);
    options.log?.(`Kafka already running on ${brokers} (${instanceDir(options)})`);
    return { brokers, started: false };
  }
  if (!record && running.length > 0) {
    throw new LocalKafkaError(`instance "${options.instance}" is partly running but not formatted; npm run kafka:stop -- --instance ${options.instance}`);
  }
  for (const node of nodes) {
    if (runningPid(node) === undefined && (await portAnswers(node.clientPort))) {
      throw new LocalKafkaError(
        `port ${node.clientPort} is taken by another process; free it, choose another port (--port / KAFKA_PORT) or set KAFKA_BROKERS`,
      );
    }
    if (runningPid(node) === undefined && (await portAnswers(node.controllerPort))) {
      throw new LocalKafkaError(`controller port ${node.controllerPort} is taken by another process; choose another --port`);
    }
  }
  const lib = ensureJars(options);
  const clusterIdFile = join(instanceDir(options), 'cluster.id');
  if (!record) {
    // A partly formatted instance (an interrupted first start) is wiped and formatted anew.
    rmSync(instanceDir(options), { recursive: true, force: true });
    mkdirSync(instanceDir(options), { recursive: true });
    writeFileSync(clusterIdFile, newClusterId());
  }
  const clusterId = readFileSync(clusterIdFile, 'utf8').trim();
  const started = Date.now();
  const children: ChildProcess[] = [];
  for (const node of nodes) {
    if (runningPid(node) !== undefined) continue;
    if (!record) format(options, node, lib, clusterId);
    else writeFileSync(join(node.dir, 'server.properties'), serverProperties(options, node));
  }
  if (!record) {
    const formatted: InstanceRecord = {
      nodes: options.nodes,
      ...(options.sasl && { sasl: { username: options.sasl.username, digest: saslDigest(options.sasl) } }),
    };
    writeFileSync(join(instanceDir(options), 'instance.json'), JSON.stringify(formatted));
  }
  for (const node of nodes) {
    if (runningPid(node) === undefined) children.push(launch(options, node, lib));
  }
  const security = options.sasl ? `, SASL/SCRAM user "${options.sasl.username}"` : '';
  options.log?.(`starting Kafka ${options.version} (${nodes.length} node${nodes.length > 1 ? 's' : ''}${security}) on ${brokers}`);
  try {
    await waitUntilReady(options, started + options.timeoutMs, children);
  } catch (error) {
    throw notReady(options, nodes, error);
  }
  options.log?.(`Kafka ready on ${brokers} after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return { brokers, started: true };
}

function notReady(options: LocalKafkaOptions, nodes: NodeInfo[], error: unknown): LocalKafkaError {
  const log = join(nodes[0].dir, 'server.log');
  return new LocalKafkaError(
    `Kafka did not come up on ${brokersOf(options)} within ${Math.round(options.timeoutMs / 1000)} s (${(error as Error).message}); last lines of ${log}:\n${tail(log, 15)}`,
  );
}

/** Where a node started without a class archive writes one as it exits. */
const pendingArchive = (node: NodeInfo) => join(node.dir, 'classes.jsa');

async function stopNode(node: NodeInfo, timeoutMs: number): Promise<boolean> {
  const archive = readPid(node)?.classArchive;
  const pid = runningPid(node);
  rmSync(join(node.dir, 'pid.json'), { force: true });
  if (pid === undefined) return false;
  signal(pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isOurProcess(pid, node)) {
      if (archive) keepClassArchive(node, archive);
      return true;
    }
    await sleep(100);
  }
  signal(pid, 'SIGKILL');
  return true;
}

/**
 * Puts the archive a node wrote as it exited where the next starts find it, unless another node
 * got there first. Only after an exit this launcher asked for and saw: a JVM killed while writing
 * leaves a partial file, which `launch` deletes.
 */
function keepClassArchive(node: NodeInfo, archive: string): void {
  const written = pendingArchive(node);
  if (!existsSync(written)) return;
  try {
    if (!existsSync(archive)) renameSync(written, archive);
  } catch {
    // A folder that cannot take it: brokers start without one, as before.
  } finally {
    rmSync(written, { force: true });
  }
}

/**
 * Makes the class archive of `classArchive` ahead of the first real start, by starting and stopping
 * a throwaway node (~8 s once; `npm run kafka:jars`, which CI runs before its tests). Returns the
 * archive, or undefined when none could be made: brokers then start without one, as before.
 */
export async function prepareClassArchive(options: LocalKafkaOptions): Promise<string | undefined> {
  const archive = classArchive(ensureJars(options));
  if (existsSync(archive)) return archive;
  if (!canWriteClassArchive()) return undefined;
  const training: LocalKafkaOptions = { ...options, instance: '.class-archive', nodes: 1, sasl: undefined, log: undefined };
  for (let attempt = 0; attempt < 3 && !existsSync(archive); attempt++) {
    training.port = await freePort();
    try {
      await startLocalKafka(training);
    } catch {
      // A port taken meanwhile, most likely: try others.
    } finally {
      await stopLocalKafka(training);
      wipeLocalKafka(training);
    }
  }
  return existsSync(archive) ? archive : undefined;
}

/** Sends a signal to a process that may have exited meanwhile. */
function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** Stops the nodes of the instance this launcher started; returns how many were running. */
export async function stopLocalKafka(options: LocalKafkaOptions, nodeIds?: number[]): Promise<number> {
  const nodes = nodesOf({ ...options, nodes: Math.max(configuredNodes(options), options.nodes) }).filter(
    (node) => !nodeIds || nodeIds.includes(node.id),
  );
  const stopped = await Promise.all(nodes.map((node) => stopNode(node, 30_000)));
  return stopped.filter(Boolean).length;
}

/** Starts nodes of a formatted instance that were stopped (used to bring one node back). */
export async function startLocalKafkaNodes(options: LocalKafkaOptions, nodeIds: number[]): Promise<void> {
  const record = readInstanceRecord(options);
  if (!record) throw new LocalKafkaError(`instance "${options.instance}" is not formatted; start it with startLocalKafka first`);
  checkSameShape(options, record);
  const lib = ensureJars(options);
  const nodes = nodesOf(options).filter((node) => nodeIds.includes(node.id) && runningPid(node) === undefined);
  const children = nodes.map((node) => launch(options, node, lib));
  try {
    await waitUntilReady(options, Date.now() + options.timeoutMs, children);
  } catch (error) {
    throw nodes.length > 0 ? notReady(options, nodes, error) : error;
  }
}

function configuredNodes(options: LocalKafkaOptions): number {
  const dir = instanceDir(options);
  return existsSync(dir) ? readdirSync(dir).filter((name) => name.startsWith('node-')).length : 0;
}

/** Process ids of the instance's running nodes. */
export function localKafkaPids(options: LocalKafkaOptions): number[] {
  return nodesOf(options)
    .map((node) => runningPid(node))
    .filter((pid): pid is number => pid !== undefined);
}

export function localKafkaStatus(options: LocalKafkaOptions): LocalKafkaStatus {
  const configured = configuredNodes(options);
  const running = nodesOf({ ...options, nodes: Math.max(configured, options.nodes) }).filter(
    (node) => runningPid(node) !== undefined,
  );
  const username = readInstanceRecord(options)?.sasl?.username;
  return {
    brokers: running.map((node) => `${HOST}:${readPid(node)?.clientPort}`).join(','),
    running: running.map((node) => node.id),
    nodes: configured,
    ...(username && { saslUsername: username }),
  };
}

/** Deletes the instance's data (it must be stopped). */
export function wipeLocalKafka(options: LocalKafkaOptions): void {
  rmSync(instanceDir(options), { recursive: true, force: true });
}
