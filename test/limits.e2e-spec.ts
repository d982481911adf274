import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { eventually, uniquePrefix } from './support/kafka.js';
import { Service, scratchDir } from './support/service.js';

const REQUEST_TIMEOUT_MS = 2000;
const MAX_IN_FLIGHT_REQUESTS = 5;
const CHECK_MAX_WAIT_MS = 3000;
const KEEP_ALIVE_TIMEOUT_MS = 3000;
const BODY_LIMIT_BYTES = 16 * 1024;

/**
 * Every bound the service puts on a request, as a client meets it (docs/limits.md): the body
 * size, the header size, the time to send a request, the read-your-writes wait and the number
 * of requests in flight. The service runs with small limits so that each is reached quickly.
 */
describe('limits', () => {
  const prefix = uniquePrefix('limits');
  const data = scratchDir('limits');
  let sut: Service;

  beforeAll(async () => {
    sut = await Service.start('service', {
      entry: 'main',
      topicPrefix: prefix,
      dataDir: join(data, 'svc'),
      env: {
        REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
        MAX_IN_FLIGHT_REQUESTS: String(MAX_IN_FLIGHT_REQUESTS),
        CHECK_MAX_WAIT_MS: String(CHECK_MAX_WAIT_MS),
        KEEP_ALIVE_TIMEOUT_MS: String(KEEP_ALIVE_TIMEOUT_MS),
      },
    });
  }, 120_000);

  afterAll(async () => {
    // Not a graceful stop: shutdown has its own tests (shutdown.e2e-spec.ts).
    await sut?.stop('SIGKILL');
    rmSync(data, { recursive: true, force: true });
  });

  /** A deposit, its read token, and a token of the same wallet that will not be visible for ages. */
  async function depositWithTokens(walletId: string) {
    const accepted = await sut.deposit(walletId, 1);
    expect(accepted.status).toBe(202);
    const token: string = accepted.body.token;
    const future = Buffer.from(Buffer.from(token, 'base64url').toString().replace(/\d+$/, '999999999')).toString('base64url');
    return { token, future };
  }

  describe('request body: 16 KiB', () => {
    /** A valid deposit body padded with JSON whitespace to exactly `bytes` bytes. */
    const paddedBody = (walletId: string, bytes: number) => {
      const body = JSON.stringify({ wallet_id: walletId, amount: 1 });
      return `${body.slice(0, -1)}${' '.repeat(bytes - body.length)}}`;
    };

    it('takes a body of exactly 16384 bytes', async () => {
      const response = await sut.request('POST', '/deposit', paddedBody('lim-body-16k', BODY_LIMIT_BYTES));

      expect(response.status).toBe(202);
    });

    it('refuses one byte more with 413 {"error"} and counts nothing', async () => {
      const response = await sut.request('POST', '/deposit', paddedBody('lim-body-over', BODY_LIMIT_BYTES + 1));

      expect(response.status).toBe(413);
      expect(response.body).toEqual({ error: expect.stringContaining('16384') });
      expect((await sut.check('lim-body-over')).body).toMatchObject({ balance: 0, deposit_count: 0 });
    });

    it('refuses a chunked body that grows past 16 KiB, and a Content-Length that announces one', async () => {
      const chunked = await new Promise<{ status: number; text: string }>((resolve, reject) => {
        const outgoing = request(
          { host: '127.0.0.1', port: sut.port, method: 'POST', path: '/deposit', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } },
          (response) => {
            let text = '';
            response.on('data', (chunk) => (text += chunk));
            response.on('end', () => resolve({ status: response.statusCode!, text }));
          },
        );
        outgoing.on('error', reject);
        outgoing.write('{"wallet_id":"lim-chunked","amount":1,"pad":"');
        for (let i = 0; i < 17; i++) outgoing.write('x'.repeat(1024));
        outgoing.end('"}');
      });
      const announced = await rawExchange(
        sut.port,
        'POST /deposit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{"wallet_id":"lim-announced",',
        15_000,
      );

      expect(chunked.status).toBe(413);
      expect(JSON.parse(chunked.text)).toEqual({ error: expect.any(String) });
      expect(announced.text).toMatch(/^HTTP\/1\.1 413 /);
    });
  });

  describe('request headers: 16 KiB (Node.js default)', () => {
    it('takes 15 KiB of headers', async () => {
      const response = await sut.request('GET', '/check/lim-headers', undefined, { 'x-pad': 'a'.repeat(15 * 1024) });

      expect(response.status).toBe(200);
    });

    it('refuses 17 KiB of headers, or a 17 KiB URL, with 431 and a JSON error', async () => {
      const headers = await sut.request('GET', '/check/lim-headers', undefined, { 'x-pad': 'a'.repeat(17 * 1024) });
      const url = await sut.request('GET', `/check/lim-headers?token=${'a'.repeat(17 * 1024)}`);

      expect(headers.status).toBe(431);
      expect(headers.body).toMatchObject({ error: expect.any(String) });
      expect(url.status).toBe(431);
    });

    it('answers 431 with the body every other error has: exactly {"error": "…"}', async () => {
      const response = await sut.request('GET', '/check/lim-headers', undefined, { 'x-pad': 'a'.repeat(17 * 1024) });

      expect(response.status).toBe(431);
      expect(response.body).toEqual({ error: expect.any(String) });
    });
  });

  describe(`REQUEST_TIMEOUT_MS (${REQUEST_TIMEOUT_MS} here): the time to send a request`, () => {
    it('answers a client that stops sending mid-request with 408 {"error"} and closes, soon after REQUEST_TIMEOUT_MS', async () => {
      const stalled = await rawExchange(
        sut.port,
        'POST /deposit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"wallet_id":"lim-slow",',
        REQUEST_TIMEOUT_MS + 10_000,
      );

      expect(stalled.text).toMatch(/^HTTP\/1\.1 408 /);
      expect(stalled.closed).toBe(true);
      expect(JSON.parse(stalled.text.split('\r\n\r\n')[1])).toEqual({ error: expect.any(String) });
    }, 30_000);

    it('does not cut a request whose handler takes longer: a read-your-writes wait runs to its end', async () => {
      const { future } = await depositWithTokens('lim-long-wait');
      const response = await sut.check('lim-long-wait', `?token=${future}&wait_ms=${CHECK_MAX_WAIT_MS}`);

      expect(response.status).toBe(504);
      expect(response.body).toEqual({ error: expect.stringContaining(`${CHECK_MAX_WAIT_MS} ms`) });
    });
  });

  describe(`KEEP_ALIVE_TIMEOUT_MS (${KEEP_ALIVE_TIMEOUT_MS} here): how long an idle connection stays open`, () => {
    it('says so in Keep-Alive, serves a request sent on the connection while it waits, and closes it once idle that long', async () => {
      const live = 'GET /health/live HTTP/1.1\r\nHost: depositaja\r\n\r\n';
      const socket = connect(sut.port, '127.0.0.1');
      let received = '';
      socket.on('data', (chunk) => (received += chunk.toString()));
      const answers = () => received.split('HTTP/1.1 200').length - 1;
      const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now())));

      socket.write(live);
      await eventually('the first answer', () => answers() === 1, 5000);
      await new Promise((resolve) => setTimeout(resolve, KEEP_ALIVE_TIMEOUT_MS / 2));
      socket.write(live);
      await eventually('the second answer, on the same connection', () => answers() === 2, 5000);
      const idleSince = Date.now();
      const closedAt = await closed;

      expect(received).toContain(`Keep-Alive: timeout=${KEEP_ALIVE_TIMEOUT_MS / 1000}`);
      expect(closedAt - idleSince).toBeGreaterThanOrEqual(KEEP_ALIVE_TIMEOUT_MS - 100);
    }, 20_000);
  });

  describe(`CHECK_MAX_WAIT_MS (${CHECK_MAX_WAIT_MS} here): the longest read-your-writes wait`, () => {
    it('waits up to wait_ms = CHECK_MAX_WAIT_MS and answers once the deposit is visible', async () => {
      const { token } = await depositWithTokens('lim-wait');
      const response = await sut.check('lim-wait', `?token=${token}&wait_ms=${CHECK_MAX_WAIT_MS}`);

      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({ balance: 1, deposit_count: 1 });
    });

    it('waits without wait_ms too, when CHECK_MAX_WAIT_MS is below the 5000 ms default', async () => {
      const { token } = await depositWithTokens('lim-wait-default');
      const response = await sut.check('lim-wait-default', `?token=${token}`);

      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({ balance: 1, deposit_count: 1 });
    });

    it('refuses wait_ms above CHECK_MAX_WAIT_MS with 422, naming the bound', async () => {
      const { token } = await depositWithTokens('lim-wait-over');
      const response = await sut.check('lim-wait-over', `?token=${token}&wait_ms=${CHECK_MAX_WAIT_MS + 1}`);

      expect(response.status).toBe(422);
      expect(response.body).toEqual({ error: `wait_ms must be at most ${CHECK_MAX_WAIT_MS}` });
    });

    it('answers 504 when the deposit is not visible within wait_ms', async () => {
      const { future } = await depositWithTokens('lim-wait-504');
      const response = await sut.check('lim-wait-504', `?token=${future}&wait_ms=300`);

      expect(response.status).toBe(504);
      expect(response.body).toEqual({ error: expect.stringContaining('not visible yet') });
    });
  });

  describe(`MAX_IN_FLIGHT_REQUESTS (${MAX_IN_FLIGHT_REQUESTS} here)`, () => {
    /** Starts `count` requests that each wait CHECK_MAX_WAIT_MS for a deposit that never shows. */
    function slowRequests(count: number, future: string, signal?: AbortSignal) {
      return Array.from({ length: count }, () =>
        fetch(`${sut.url}/check/lim-busy?token=${future}&wait_ms=${CHECK_MAX_WAIT_MS}`, { signal }).then(
          (response) => response.status,
          () => 0,
        ),
      );
    }

    /** The first 503 a quick request meets while the slow ones hold every slot. */
    async function refusedWhileBusy() {
      let refused: Awaited<ReturnType<Service['request']>> | undefined;
      await eventually(
        'a request refused for being one too many',
        async () => {
          const response = await sut.request('GET', '/check/lim-busy');
          if (response.status === 503) refused = response;
          return refused !== undefined;
        },
        CHECK_MAX_WAIT_MS - 500,
      );
      return refused!;
    }

    it('answers the request past the limit at once with 503 and Retry-After, and takes requests again afterwards', async () => {
      const { future } = await depositWithTokens('lim-busy');
      const slow = slowRequests(MAX_IN_FLIGHT_REQUESTS, future);
      const refused = await refusedWhileBusy();

      expect(refused.body).toEqual({ error: expect.any(String) });
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(await Promise.all(slow)).toEqual(Array(MAX_IN_FLIGHT_REQUESTS).fill(504));
      expect((await sut.request('GET', '/check/lim-busy')).status).toBe(200);
    }, 30_000);

    it('gives the slot of a request whose client went away back, and never more than one', async () => {
      const { future } = await depositWithTokens('lim-busy');
      for (let round = 0; round < 3; round++) {
        const abort = new AbortController();
        const slow = slowRequests(MAX_IN_FLIGHT_REQUESTS, future, abort.signal);
        await refusedWhileBusy();
        abort.abort();
        await Promise.all(slow);
        await eventually('the slots to be free again', async () => (await sut.request('GET', '/check/lim-busy')).status === 200, 10_000);
      }
      // Still exactly MAX_IN_FLIGHT_REQUESTS slots: that many slow requests fill them, one more is refused.
      const slow = slowRequests(MAX_IN_FLIGHT_REQUESTS, future);
      expect((await refusedWhileBusy()).status).toBe(503);
      expect(await Promise.all(slow)).toEqual(Array(MAX_IN_FLIGHT_REQUESTS).fill(504));
    }, 60_000);
  });

  describe('connections waiting to be accepted: 4096, capped by net.core.somaxconn', () => {
    it('keeps that backlog on its listening socket once its extra accept queues are set up', () => {
      // The backlog of a listening socket, as the kernel reports it (iproute2's ss: Send-Q).
      const listening = execFileSync('ss', ['-ltnH', `sport = :${sut.port}`], { encoding: 'utf8' });
      const backlogs = listening
        .trim()
        .split('\n')
        .map((line) => Number(line.trim().split(/\s+/)[2]));
      const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));

      expect(backlogs.length).toBeGreaterThan(0);
      expect(backlogs).toEqual(backlogs.map(() => Math.min(4096, somaxconn)));
    });
  });

  describe('connections accepted per event-loop turn: HTTP_ACCEPT_QUEUES (512 by default)', () => {
    it('polls that many descriptors of its listening socket, all its own', async () => {
      // ss lists every process and descriptor that holds the socket; the listener helper has
      // handed its copies over and exited once the service is ready.
      const holders = () => {
        const listening = execFileSync('ss', ['-ltnpH', `sport = :${sut.port}`], { encoding: 'utf8' });
        return [...listening.matchAll(/pid=(\d+),fd=(\d+)/g)].map((match) => ({ pid: Number(match[1]), fd: Number(match[2]) }));
      };
      await eventually('the listener helper to exit', () => holders().every(({ pid }) => pid === sut.process.pid), 10_000);

      expect(new Set(holders().map(({ fd }) => fd)).size).toBe(512);
    });
  });
});

/** Writes `text` on a fresh connection and collects what comes back until the server closes or `waitMs` pass. */
function rawExchange(port: number, text: string, waitMs: number): Promise<{ text: string; closed: boolean; elapsedMs: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    let received = '';
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ text: received, closed, elapsedMs: Date.now() - started });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.on('data', (chunk) => (received += chunk.toString()));
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
  });
}

