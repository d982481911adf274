import 'reflect-metadata';
import { jest } from '@jest/globals';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { loadConfig } from '../config/config.js';
import { logRequestLine, loggerOptions, requestId, requestLogLevel, requestPath, secretScrubber } from './log-options.js';

const ADMIN_TOKEN = 'unit-admin-token-0123456789';
const SASL_PASSWORD = 'sasl-pa$$word"with\\quotes';

/** A pino logger with the service's options, writing JSON lines into `lines`. */
function logger(lines: string[], level = 'debug') {
  const config = loadConfig({
    ADMIN_TOKEN,
    KAFKA_SASL_MECHANISM: 'plain',
    KAFKA_SASL_USERNAME: 'svc',
    KAFKA_SASL_PASSWORD: SASL_PASSWORD,
    LOG_FORMAT: 'json',
    LOG_LEVEL: level,
  });
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return pino(loggerOptions(config), sink);
}

describe(requestLogLevel.name, () => {
  it.each([
    ['POST', '/deposit', 202, false, 'info'],
    ['POST', '/deposit', 422, false, 'info'],
    ['PUT', '/admin/wallets/w/flag', 401, false, 'warn'],
    ['GET', '/monitor/api/tables', 401, false, 'warn'],
    ['POST', '/deposit', 503, false, 'warn'],
    ['GET', '/check/w', 504, false, 'warn'],
    ['POST', '/deposit', 500, false, 'error'],
    ['GET', '/check/w', 200, true, 'error'],
    ['GET', '/health/ready', 200, false, 'debug'],
    ['GET', '/health/ready', 503, false, 'debug'],
    ['GET', '/health/live', 200, false, 'debug'],
    ['GET', '/metrics', 200, false, 'debug'],
    ['GET', '/monitor', 200, false, 'debug'],
    ['GET', '/monitor/api/summary', 200, false, 'debug'],
    ['GET', '/monitor/api/lookup', 404, false, 'debug'],
    ['GET', '/metrics', 500, false, 'error'],
    ['GET', '/metricsX', 200, false, 'info'],
  ])('%s %s %i (failed: %p) logs at %s', (method, path, status, failed, level) => {
    expect(requestLogLevel(method, path, status, failed)).toBe(level);
  });
});

describe(requestId.name, () => {
  it("keeps a sane client id and replaces anything else with a UUID", () => {
    expect(requestId('trace-7f3a:1')).toBe('trace-7f3a:1');
    for (const given of [undefined, '', 'has space', 'x'.repeat(65), ['a', 'b'], 'new\nline']) {
      expect(requestId(given)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    }
  });
});

describe(requestPath.name, () => {
  it('drops the query string, which may carry a token', () => {
    expect(requestPath({ originalUrl: '/check/w?token=abc', url: '/' })).toBe('/check/w');
    expect(requestPath({ url: '/metrics' })).toBe('/metrics');
  });
});

describe(secretScrubber.name, () => {
  it('replaces each secret, raw or JSON-escaped, and leaves other text alone', () => {
    const sut = secretScrubber(['s3cret-token', 'pa"ss', undefined]);

    expect(sut('{"msg":"Bearer s3cret-token and s3cret-token"}')).toBe('{"msg":"Bearer [REDACTED] and [REDACTED]"}');
    expect(sut(JSON.stringify({ msg: 'pa"ss' }))).toBe('{"msg":"[REDACTED]"}');
    expect(sut('{"msg":"nothing here"}')).toBe('{"msg":"nothing here"}');
  });
});

describe(loggerOptions.name, () => {
  it('never writes the admin token or the SASL password, in any field or message', () => {
    const lines: string[] = [];
    const sut = logger(lines);

    sut.info({ req: { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } } }, 'a request');
    sut.warn({ config: { admin: { token: ADMIN_TOKEN } } }, 'a config dump');
    sut.error({ sasl: { mechanism: 'plain', password: SASL_PASSWORD } }, 'a client option dump');
    sut.error(`wrapped: Bearer ${ADMIN_TOKEN}; sasl ${SASL_PASSWORD}`);
    sut.info({ detail: { token: 'read-token' } }, 'a nested token');

    const text = lines.join('\n');
    expect(lines).toHaveLength(5);
    expect(text).not.toContain(ADMIN_TOKEN);
    expect(text).not.toContain('pa$$word');
    expect(text).not.toContain('read-token');
    expect(text).toContain('[REDACTED]');
  });

  it('writes JSON lines with a level name and an ISO time', () => {
    const lines: string[] = [];
    logger(lines).warn({ context: 'Test' }, 'hello');

    expect(JSON.parse(lines[0])).toMatchObject({ level: 'warn', time: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/), context: 'Test', msg: 'hello' });
  });

  it('writes the millisecond each line was written in, also when many lines share one', () => {
    jest.useFakeTimers({ now: Date.parse('2026-12-03T10:00:00.123Z') });
    try {
      const lines: string[] = [];
      const log = logger(lines);
      log.warn('first');
      log.warn('second, same millisecond');
      jest.setSystemTime(Date.parse('2026-12-03T10:00:01.007Z'));
      log.warn('third, a second later');

      expect(lines.map((line) => (JSON.parse(line) as { time: string }).time)).toEqual(['2026-12-03T10:00:00.123Z', '2026-12-03T10:00:00.123Z', '2026-12-03T10:00:01.007Z']);
    } finally {
      jest.useRealTimers();
    }
  });

  it("logs Nest's start-up report at debug, not info, and its errors as they are", () => {
    const atInfo: string[] = [];
    const atDebug: string[] = [];
    logger(atInfo, 'info').info({ context: 'NestFactory' }, 'Starting Nest application...');
    logger(atInfo, 'info').info({ context: 'InstanceLoader' }, 'AppModule dependencies initialized');
    logger(atInfo, 'info').info({ context: 'NestApplication' }, 'Nest application successfully started');
    logger(atInfo, 'info').info({ context: 'Streams' }, 'something that matters');
    logger(atInfo, 'info').error({ context: 'NestApplication' }, 'Error: listen EADDRINUSE');
    logger(atDebug, 'debug').info({ context: 'RouterExplorer' }, 'Mapped {/deposit, POST} route');

    expect(atInfo.map((line) => JSON.parse(line).msg)).toEqual(['something that matters', 'Error: listen EADDRINUSE']);
    expect(JSON.parse(atInfo[1])).toMatchObject({ level: 'error', context: 'NestApplication' });
    expect(JSON.parse(atDebug[0])).toMatchObject({ level: 'debug', context: 'RouterExplorer' });
  });
});

describe(logRequestLine.name, () => {
  /** The child logger tagAndLogRequests (request-ids.ts) logs request lines with. */
  const requestLogger = (lines: string[], level?: string) => logger(lines, level).child({}, { serializers: { req: (value: unknown) => value, res: (value: unknown) => value }, redact: { paths: [] } });

  it("writes the line pino writes for the request's fields, byte for byte, at the request's level", () => {
    jest.useFakeTimers({ now: Date.parse('2026-12-04T10:00:00.123Z') });
    try {
      const requests: Array<[{ id: string; method: string; url: string }, number, number]> = [
        [{ id: 'f2d5c1de-6d49-4c2b-9c36-6b0d3f0c8a11', method: 'GET', url: '/check/w-1' }, 200, 0.4],
        [{ id: 'client-trace-42', method: 'POST', url: '/deposit' }, 202, 12.5],
        [{ id: 'r-3', method: 'GET', url: '/check/w-1?token=abc&wait_ms=10' }, 504, 10.2],
        [{ id: 'r-4', method: 'GET', url: '/check/"quoted"\\back\u0001ctl\u00e9' }, 422, 1],
        [{ id: 'r-5', method: 'PUT', url: `/admin/wallets/${ADMIN_TOKEN}/flag` }, 401, 2],
        [{ id: 'r-6', method: 'GET', url: '/health/ready' }, 200, 0],
      ];
      const ours: string[] = [];
      const pinos: string[] = [];
      for (const [request, status, ms] of requests) {
        logRequestLine(requestLogger(ours), request, status, ms);
        const path = requestPath(request);
        const level = requestLogLevel(request.method, path, status, false) as 'info';
        requestLogger(pinos)[level]({ req: { id: request.id, method: request.method, path }, res: { statusCode: status }, responseTime: Math.round(ms) }, `${request.method} ${path} ${status} in ${Math.round(ms)} ms`);
      }

      expect(ours).toEqual(pinos);
      expect(ours.map((line) => JSON.parse(line).level)).toEqual(['info', 'info', 'warn', 'info', 'warn', 'debug']);
      expect(ours.join('\n')).not.toContain(ADMIN_TOKEN);
      expect(ours.join('\n')).not.toContain('token=abc');
    } finally {
      jest.useRealTimers();
    }
  });

  it('leaves the line to pino when the stream wants its metadata (a multistream)', () => {
    jest.useFakeTimers({ now: Date.parse('2026-12-04T10:00:00.123Z') });
    try {
      const viaMultistream = (lines: string[]) => {
        const sink = new Writable({ write: (chunk: Buffer, _encoding, done) => (lines.push(chunk.toString().trim()), done()) });
        const config = loadConfig({ LOG_FORMAT: 'json', LOG_LEVEL: 'debug' });
        return pino(loggerOptions(config), pino.multistream([{ stream: sink, level: 'warn' }])).child({}, { serializers: { req: (value: unknown) => value, res: (value: unknown) => value }, redact: { paths: [] } });
      };
      const ours: string[] = [];
      const pinos: string[] = [];
      logRequestLine(viaMultistream(ours), { id: 'r-1', method: 'GET', url: '/check/w-1' }, 504, 3);
      logRequestLine(viaMultistream(ours), { id: 'r-2', method: 'GET', url: '/check/w-1' }, 200, 3);
      viaMultistream(pinos).warn({ req: { id: 'r-1', method: 'GET', path: '/check/w-1' }, res: { statusCode: 504 }, responseTime: 3 }, 'GET /check/w-1 504 in 3 ms');

      // The multistream routes by level: the warning reaches its warn stream, the info line does not.
      expect(ours).toEqual(pinos);
      expect(ours).toHaveLength(1);
    } finally {
      jest.useRealTimers();
    }
  });

  it('writes nothing below the logger\'s level', () => {
    const lines: string[] = [];
    logRequestLine(requestLogger(lines, 'warn'), { id: 'r-1', method: 'GET', url: '/check/w-1' }, 200, 1);
    logRequestLine(requestLogger(lines, 'warn'), { id: 'r-2', method: 'GET', url: '/check/w-1' }, 504, 1);

    expect(lines.map((line) => JSON.parse(line).req.id)).toEqual(['r-2']);
  });
});
