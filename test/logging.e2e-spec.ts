import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { eventually, uniquePrefix } from './support/kafka.js';
import { Service, scratchDir } from './support/service.js';

const ADMIN_TOKEN = 'e2e-logging-token-0123456789';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Deposits made while stdout is not read: their request lines are several times what a pipe holds. */
const DEPOSITS = 2000;

interface LogLine {
  level: string;
  time: string;
  msg: string;
  context?: string;
  req?: { id: string; method: string; path: string };
  res?: { statusCode: number };
  responseTime?: number;
}

/**
 * The service's own output with LOG_FORMAT=json, as a log shipper reads it: one JSON object per
 * line, a request id on every request line, no credentials anywhere.
 */
describe('the logs', () => {
  const prefix = uniquePrefix('logging');
  const data = scratchDir('logging');
  const walletId = `logging-${Math.random().toString(36).slice(2, 10)}`;
  let sut: Service;

  beforeAll(async () => {
    sut = await Service.start('logging', {
      entry: 'main',
      topicPrefix: prefix,
      dataDir: join(data, 'service'),
      env: { ADMIN_TOKEN, LOG_FORMAT: 'json', LOG_LEVEL: 'info' },
    });
  }, 90_000);

  afterAll(async () => {
    await sut?.stop();
    rmSync(data, { recursive: true, force: true });
  });

  const parsed = () => sut.process.output.map((line) => JSON.parse(line) as LogLine);
  const requestLine = (id: string) => parsed().find((line) => line.req?.id === id && line.res !== undefined);

  it('writes one JSON object per line, and nothing at warn or above on a healthy start', async () => {
    await sut.process.waitFor(/processor groups .* running on/);
    const lines = parsed();

    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line).toEqual(expect.objectContaining({ level: expect.any(String), time: expect.any(String), msg: expect.any(String) }));
    expect(lines.filter((line) => !['debug', 'info'].includes(line.level))).toEqual([]);
    // Nest's start-up report, under whatever name the bundles give its classes (`_InstanceLoader`).
    expect(lines.filter((line) => /NestFactory|InstanceLoader|RoutesResolver|RouterExplorer|NestApplication/.test(line.context ?? ''))).toEqual([]);
    expect(lines.filter((line) => /Nest application/.test(line.msg))).toEqual([]);
    expect(lines.filter((line) => line.context?.startsWith('_'))).toEqual([]);
  }, 60_000);

  it("tags each request's line with its id, the client's or a new one, and sends it back as X-Request-Id", async () => {
    const given = await sut.deposit(walletId, 12.5, { 'X-Request-Id': 'client-trace-42' });
    const generated = await sut.check(walletId, `?token=${given.body.token}`);
    const id = generated.headers.get('x-request-id') ?? '';

    expect(given.status).toBe(202);
    expect(given.headers.get('x-request-id')).toBe('client-trace-42');
    expect(id).toMatch(UUID);
    await eventually('both request lines', () => requestLine('client-trace-42') !== undefined && requestLine(id) !== undefined, 10_000);
    expect(requestLine('client-trace-42')).toMatchObject({
      level: 'info',
      msg: expect.stringMatching(/^POST \/deposit 202 in \d+ ms$/),
      req: { id: 'client-trace-42', method: 'POST', path: '/deposit' },
      res: { statusCode: 202 },
      responseTime: expect.any(Number),
    });
    expect(requestLine(id)).toMatchObject({ level: 'info', req: { id, method: 'GET', path: `/check/${walletId}` }, res: { statusCode: 200 } });
  }, 60_000);

  it('never writes the admin token or a read token, and warns of a refused one', async () => {
    const flagged = await sut.request('PUT', `/admin/wallets/${walletId}/flag`, { reason: 'a test' }, { Authorization: `Bearer ${ADMIN_TOKEN}` });
    const refused = await sut.request('DELETE', `/admin/wallets/${walletId}/flag`, undefined, { Authorization: `Bearer ${ADMIN_TOKEN}-wrong` });
    const read = await sut.check(walletId, `?token=${flagged.body.token}`);
    const tables = await sut.request('GET', '/monitor/api/tables', undefined, { Authorization: `Bearer ${ADMIN_TOKEN}` });
    const ids = [flagged, refused, read, tables].map((response) => response.headers.get('x-request-id') ?? '');

    expect([flagged.status, refused.status, read.status, tables.status]).toEqual([202, 401, 200, 200]);
    await eventually('the request lines', () => ids.slice(0, 3).every((id) => requestLine(id) !== undefined), 10_000);
    expect(requestLine(ids[0])).toMatchObject({ level: 'info', req: { method: 'PUT', path: `/admin/wallets/${walletId}/flag` } });
    expect(requestLine(ids[1])).toMatchObject({ level: 'warn', res: { statusCode: 401 } });
    expect(requestLine(ids[2])?.req?.path).toBe(`/check/${walletId}`);
    // The monitor page polls its API every few seconds: at debug, below LOG_LEVEL=info.
    expect(requestLine(ids[3])).toBeUndefined();
    const output = sut.process.output.join('\n');
    expect(output).not.toContain(ADMIN_TOKEN);
    expect(output).not.toMatch(/bearer/i);
    expect(output).not.toContain(flagged.body.token);
    expect(output).not.toContain('token=');
  }, 60_000);
});

/**
 * The service's log goes to stdout, and whoever reads stdout (a terminal, a log shipper, a
 * pipe) may stall. The service must keep answering meanwhile, and keep the lines for the reader
 * (up to 16 MiB of them): a synchronous write to a full pipe would stop every request.
 */
describe('logging to a stdout nobody reads', () => {
  const data = scratchDir('logging-stalled');
  let sut: Service;

  beforeAll(async () => {
    sut = await Service.start('stalled stdout', {
      entry: 'main',
      topicPrefix: uniquePrefix('logging-stalled'),
      dataDir: join(data, 'service'),
      env: { LOG_FORMAT: 'json', LOG_LEVEL: 'info' },
    });
  }, 90_000);

  afterAll(async () => {
    await sut?.stop('SIGKILL');
    rmSync(data, { recursive: true, force: true });
  });

  it('answers every deposit while the pipe is full, and writes every request line once it is read', async () => {
    sut.process.pauseStdout(true);
    const statuses: number[] = [];
    for (let from = 0; from < DEPOSITS; from += 50) {
      const batch = Array.from({ length: 50 }, (_, index) => sut.deposit(`log-${from + index}`, '1.00').then((response) => response.status));
      statuses.push(...(await Promise.all(batch)));
    }
    expect(statuses.filter((status) => status === 202)).toHaveLength(DEPOSITS);

    sut.process.pauseStdout(false);
    const depositLines = () => sut.process.lines(/"msg":"POST \/deposit 202/).length;
    await eventually(`${DEPOSITS} request lines on stdout`, () => depositLines() >= DEPOSITS, 30_000);
    expect(depositLines()).toBe(DEPOSITS);
  }, 120_000);
});
