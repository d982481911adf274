import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { brokers } from './kafka.js';
import { freePort } from '../../scripts/lib/free-port';
import { TestProcess } from './processes.js';

export { freePort } from '../../scripts/lib/free-port';

export const scratchDir = (name: string) => mkdtempSync(join(tmpdir(), `depositaja-${name}-`));

export interface ServiceSpec {
  /** dist/main.js (API + processors, or API only with --no-processors) or dist/processor.js. */
  entry: 'main' | 'processor';
  args?: string[];
  topicPrefix: string;
  dataDir: string;
  port?: number;
  env?: Record<string, string>;
}

/** The real service in a child process, on the test broker, with its own topics and data. */
export class Service {
  readonly url: string;

  private constructor(
    readonly process: TestProcess,
    readonly port: number,
    readonly spec: ServiceSpec,
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  static async start(name: string, spec: ServiceSpec, options: { waitReady?: boolean } = {}): Promise<Service> {
    const port = spec.port ?? (await freePort());
    const child = new TestProcess(name, `dist/${spec.entry}.js`, spec.args ?? [], {
      KAFKA_BROKERS: brokers().join(','),
      KAFKA_TOPIC_PREFIX: spec.topicPrefix,
      KAFKA_SESSION_TIMEOUT_MS: '3000',
      DATA_DIR: spec.dataDir,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      ...spec.env,
    });
    const service = new Service(child, port, { ...spec, port });
    await service.waitUntil(options.waitReady === false ? '/health/live' : '/health/ready');
    return service;
  }

  /** Waits until GET `path` answers 200. */
  async waitUntil(path: string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.process.running) throw new Error(`${this.process.name} exited:\n${this.process.output.slice(-20).join('\n')}`);
      const status = await fetch(`${this.url}${path}`).then((response) => response.status, () => 0);
      if (status === 200) return;
      await sleep(200);
    }
    throw new Error(`${this.process.name}: ${path} not 200 within ${timeoutMs} ms:\n${this.process.output.slice(-20).join('\n')}`);
  }

  /** The same service again: same port, topics and data. */
  restart(name: string, options: { waitReady?: boolean } = {}): Promise<Service> {
    return Service.start(name, this.spec, options);
  }

  stop(signal: NodeJS.Signals = 'SIGTERM') {
    return this.process.kill(signal);
  }

  async request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
    const init: RequestInit = { method, headers: { ...headers } };
    if (body !== undefined) {
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
      const named = Object.keys(headers).some((name) => name.toLowerCase() === 'content-type');
      if (!named) (init.headers as Record<string, string>)['content-type'] = 'application/json';
    }
    const response = await fetch(`${this.url}${path}`, init);
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: kept as text, which the test then sees
    }
    return { status: response.status, body: parsed, headers: response.headers };
  }

  deposit(walletId: string, amount: number | string, headers: Record<string, string> = {}) {
    return this.request('POST', '/deposit', { wallet_id: walletId, amount }, headers);
  }

  check(walletId: string, query = '') {
    return this.request('GET', `/check/${encodeURIComponent(walletId)}${query}`);
  }
}
