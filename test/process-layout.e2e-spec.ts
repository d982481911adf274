import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { createTopics, eventually, testKafka, uniquePrefix } from './support/kafka.js';
import { Service, freePort, scratchDir } from './support/service.js';
import { TestProcess } from './support/processes.js';
import { brokers } from './support/kafka.js';
import { procStatFields } from '../scripts/lib/proc-stat.js';

/** Each thread's niceness (field 19 of /proc/<pid>/task/<tid>/stat), by thread id. */
function threadNiceness(pid: number): Map<number, number> {
  const niceness = new Map<number, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    niceness.set(Number(tid), Number(procStatFields(`/proc/${pid}/task/${tid}/stat`)[16]));
  }
  return niceness;
}

/**
 * `node dist/main.js` as `npm start` runs it: the API on the main thread, the processor groups
 * on a worker thread (PROCESSOR_THREADS), and still one process to the outside: one log stream,
 * one health and metrics view, one SIGTERM; a part that cannot run stops the whole.
 */
describe('the default process layout', () => {
  const data = scratchDir('layout');

  afterAll(() => rmSync(data, { recursive: true, force: true }));

  it('runs the groups on a worker thread, shows them in its health and metrics, and stops all on SIGTERM', async () => {
    const sut = await Service.start('service', {
      entry: 'main',
      topicPrefix: uniquePrefix('layout'),
      dataDir: join(data, 'threads'),
      // An operator's preload (an agent, a profiler) runs on every thread, not only the first.
      env: { PROCESSOR_THREADS: '1', LOG_LEVEL: 'info', NODE_OPTIONS: `--import=${join(process.cwd(), 'test/support/thread-preload.mjs')}` },
    });
    try {
      const accepted = await sut.deposit('layout-w1', '12.34');
      expect(accepted.status).toBe(202);
      const checked = await sut.check('layout-w1', `?token=${accepted.body.token}`);
      const ready = await sut.request('GET', '/health/ready');
      // Partitions show as running once caught up with their changelogs, a moment after joining.
      let metrics = '';
      await eventually('every partition running in /metrics', async () => {
        metrics = (await sut.request('GET', '/metrics')).body as string;
        return (metrics.match(/stream_group_partitions\{group="\w+",state="running"\} 6/g) ?? []).length === 3;
      });

      expect(checked.body).toMatchObject({ balance: 12.34, deposit_count: 1 });
      expect(ready.body).toMatchObject({ status: 'ready', groups: { balance: true, threshold: true, flagger: true } });
      for (const group of ['balance', 'threshold', 'flagger']) {
        expect(metrics).toContain(`stream_group_running{group="${group}"} 1`);
        expect(metrics).toMatch(new RegExp(`stream_group_partitions\\{group="${group}",state="running"\\} 6`));
      }
      expect(sut.process.lines(/running on 1 worker thread/)).toHaveLength(1);
      // The processor thread yields to HTTP (PROCESSOR_THREAD_NICE, 10 by default) once its
      // partitions are restored; the main thread, libuv's pool and V8's helpers keep the
      // process's priority.
      await eventually('the processor thread at a lower priority', () => [...threadNiceness(sut.process.pid).values()].some((nice) => nice !== 0));
      const niceness = threadNiceness(sut.process.pid);
      expect(niceness.get(sut.process.pid)).toBe(0);
      expect([...niceness.values()].filter((nice) => nice !== 0)).toEqual([10]);
      // Where it answers, said once it does, and when all of it is up.
      expect(sut.process.lines(new RegExp(`"msg":"listening on ${sut.url.replaceAll('.', '\\.')} \\(Swagger UI at /docs\\)"`))).toHaveLength(1);
      // With the Node it runs on: the tests' own, as for npm start (node_modules/.bin/node).
      expect(sut.process.lines(new RegExp(`"msg":"started in \\d+\\.\\d s \\(Node ${process.versions.node.replaceAll('.', '\\.')}\\);`))).toHaveLength(1);
      expect(sut.process.lines(/^preloaded on thread/).sort()).toEqual(['preloaded on thread 0', 'preloaded on thread 1']);
      // The thread's own lines come out of the same stream.
      expect(sut.process.lines(/"context":"Group:balance".*joined/)).toHaveLength(1);
    } finally {
      const exited = await sut.stop('SIGTERM');
      expect(exited.code).toBe(0);
      expect(sut.process.lines(/"msg":"stopped"/)).toHaveLength(1);
    }
  }, 120_000);

  it('stops the whole service when `npm start` itself is sent SIGTERM, as a supervisor stops it', async () => {
    const port = await freePort();
    const npm = spawn('npm', ['start'], {
      env: { ...process.env, KAFKA_BROKERS: brokers().join(','), KAFKA_TOPIC_PREFIX: uniquePrefix('layout-npm'), DATA_DIR: join(data, 'npm'), PORT: String(port), HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    npm.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    npm.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const live = () =>
      new Promise<boolean>((resolve) => {
        const sent = request({ port, host: '127.0.0.1', path: '/health/live', agent: false }, (response) => {
          response.resume();
          resolve(response.statusCode === 200);
        });
        sent.on('error', () => resolve(false));
        sent.end();
      });
    try {
      await eventually('the service started by npm start to answer', live, 90_000);
      // On the project's Node where npm ci installed one (README, Quickstart), whatever Node runs npm.
      await eventually('its start-up line', () => /started in \d+\.\d s \(Node /.test(output), 30_000);
      const projectNode = existsSync('node_modules/.bin/node') ? 'node_modules/.bin/node' : 'node';
      const expected = execFileSync(projectNode, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
      expect(/started in \d+\.\d s \(Node ([\d.]+)\)/.exec(output)?.[1]).toBe(expected);
      npm.kill('SIGTERM');

      await eventually('the service to stop', async () => !(await live()), 30_000);
      await eventually('its clean stop in the output', () => /"msg":"stopped"/.test(output), 10_000);
    } finally {
      npm.kill('SIGKILL');
      // Should the test fail, the service (its own process group) must not outlive it.
      const pid = Number(/"pid":(\d+)/.exec(output)?.[1]);
      if (pid && (await live())) process.kill(pid, 'SIGKILL');
    }
  }, 150_000);

  it('refuses, in one line, a KAFKA_PORT that is no port, before starting a local Kafka on it', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, KAFKA_PORT: 'abc', DATA_DIR: join(data, 'bad-port') };
    delete env.KAFKA_BROKERS;
    const npm = spawn('npm', ['start'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    npm.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    npm.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => npm.on('exit', resolve));

    expect(code).toBe(1);
    expect(output).toContain('npm start: KAFKA_PORT must be a port number from 1 to 65535, got "abc"');
    expect(output).not.toContain('[kafka] starting');
  }, 120_000);

  it('refuses a bad configuration in one line, without a stack trace', async () => {
    const service = new TestProcess('service', 'dist/main.js', [], {
      KAFKA_BROKERS: brokers().join(','),
      DATA_DIR: join(data, 'bad-config'),
      PORT: '0',
      ADMIN_TOKEN: 'short-secret',
    });
    const exited = await service.exited;

    expect(exited.code).toBe(1);
    expect(service.output).toEqual(['depositaja: invalid configuration: ADMIN_TOKEN must be at least 16 characters']);
  }, 60_000);

  it('says, as its last line, that its port is taken and what to do', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      // stdout and stderr through one pipe, so that the lines keep the order they were written in.
      const env = { ...process.env, KAFKA_BROKERS: brokers().join(','), DATA_DIR: join(data, 'port-taken'), HOST: '127.0.0.1', PORT: String(port), LOG_FORMAT: 'json' };
      const service = spawn('sh', ['-c', 'exec "$0" dist/main.js 2>&1', process.execPath], { env, stdio: ['ignore', 'pipe', 'inherit'] });
      let output = '';
      service.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => service.on('close', resolve));
      const lines = output.trim().split('\n');

      // Nest reports the failure in its own log line first; the reason and the remedy come last.
      expect(code).toBe(1);
      expect(lines.at(-1)).toBe(`depositaja: cannot listen: listen EADDRINUSE: address already in use 127.0.0.1:${port} (another process has the port; set PORT)`);
      expect(lines.filter((line) => /^\s+at /.test(line))).toEqual([]);
    } finally {
      taken.close();
    }
  }, 60_000);

  it('listens while it connects to Kafka: probes answered, requests refused with 503 and Retry-After, then stops when Kafka cannot be reached', async () => {
    const nobody = await freePort();
    const sut = await Service.start(
      'service',
      { entry: 'main', topicPrefix: uniquePrefix('layout-no-kafka'), dataDir: join(data, 'no-kafka'), env: { KAFKA_BROKERS: `127.0.0.1:${nobody}` } },
      { waitReady: false },
    );
    const refusal = (answer: { status: number; body: unknown; headers: Headers }) => ({ status: answer.status, retryAfter: answer.headers.get('retry-after'), body: answer.body });
    try {
      const ready = await sut.request('GET', '/health/ready');
      const deposit = refusal(await sut.deposit('w-starting', 5));
      const check = refusal(await sut.check('w-starting'));
      const invalid = await sut.deposit('w-starting', -5);
      // A scrape is answered at once, though the processor thread has not started its groups.
      const metrics = await fetch(`${sut.url}/metrics`, { signal: AbortSignal.timeout(3000) });

      expect(ready.status).toBe(503);
      expect(deposit).toEqual({ status: 503, retryAfter: '1', body: { error: 'the service is starting; retry' } });
      expect(check).toEqual({ status: 503, retryAfter: '1', body: { error: 'the service is starting; retry' } });
      // Bad input is still bad input.
      expect(invalid.status).toBe(422);
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toContain('kafka_reachable 0');
    } finally {
      // It gives up on Kafka after kafkajs's retries (~10 s); a hang is killed and fails below.
      const hang = setTimeout(() => void sut.stop('SIGKILL'), 60_000);
      const exited = await sut.process.exited;
      clearTimeout(hang);
      expect(exited.code).toBe(1);
      expect(sut.process.lines(new RegExp(`^depositaja: cannot reach Kafka at 127\\.0\\.0\\.1:${nobody}`))).toHaveLength(1);
    }
  }, 90_000);

  it('answers every request that arrives while it starts, none left to time out', async () => {
    const port = await freePort();
    const service = new TestProcess('service', 'dist/main.js', [], {
      KAFKA_BROKERS: brokers().join(','),
      KAFKA_TOPIC_PREFIX: uniquePrefix('layout-start'),
      DATA_DIR: join(data, 'start'),
      PORT: String(port),
      HOST: '127.0.0.1',
      REQUEST_TIMEOUT_MS: '3000',
    });
    const statuses = new Map<number | 'refused', number>();
    const probe = () =>
      new Promise<number | 'refused'>((resolve) => {
        // A new connection each time: some reach the listening socket before, during and after
        // the service sets up its further accept queues.
        const sent = request({ port, host: '127.0.0.1', path: '/health/live', agent: false }, (response) => {
          response.resume();
          response.on('end', () => resolve(response.statusCode!));
        });
        sent.on('error', () => resolve('refused'));
        sent.end();
      });
    const deadline = Date.now() + 12_000;
    await Promise.all(
      Array.from({ length: 30 }, async () => {
        while (Date.now() < deadline) {
          const status = await probe();
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          if (status === 'refused') await sleep(10);
        }
      }),
    );
    await service.kill('SIGTERM');

    expect(statuses.get(200)).toBeGreaterThan(100);
    expect([...statuses.keys()].filter((status) => status !== 200 && status !== 'refused')).toEqual([]);
  }, 60_000);

  it('stops the whole service, with the reason, when a processor thread cannot start', async () => {
    const prefix = uniquePrefix('layout-bad');
    const admin = testKafka().admin();
    await admin.connect();
    // A group table with a partition count unlike the group's inputs: co-partitioning is the
    // processor thread's check (the main thread only views the table).
    await createTopics(admin, [{ topic: `${prefix}threshold-table`, numPartitions: 2, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }]);
    await admin.disconnect();

    const service = new TestProcess('service', 'dist/main.js', [], {
      KAFKA_BROKERS: brokers().join(','),
      KAFKA_TOPIC_PREFIX: prefix,
      DATA_DIR: join(data, 'bad'),
      PORT: '0',
      HOST: '127.0.0.1',
      PROCESSOR_THREADS: '1',
    });
    const exited = await service.exited;

    expect(exited.code).toBe(1);
    expect(service.lines(/^depositaja: /).join('\n')).toContain(`topic ${prefix}threshold-table has 2 partitions`);
  }, 120_000);
});
