import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { Agent, get } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { toBinary } from '@bufbuild/protobuf';
import { newDeposit } from '../src/contracts/deposit-event.js';
import { DepositSchema } from '../src/gen/depositaja/v1/deposit_pb.js';
import { brokers, testKafka, uniquePrefix } from './support/kafka.js';
import { Service, scratchDir } from './support/service.js';

const ADMIN_TOKEN = 'e2e-admin-token-0123456789';
const wallet = (name: string) => `${name}-${Math.random().toString(36).slice(2, 10)}`;

/**
 * The whole SPEC contract over real HTTP, against the real service (API and processors in one
 * process, as `npm start` runs it) on the real broker.
 */
describe('the wallet service over HTTP', () => {
  const prefix = uniquePrefix('api');
  const data = scratchDir('api');
  let sut: Service;

  beforeAll(async () => {
    sut = await Service.start('service', { entry: 'main', topicPrefix: prefix, dataDir: join(data, 'a'), env: { ADMIN_TOKEN } });
  }, 90_000);

  afterAll(async () => {
    await sut?.stop();
    rmSync(data, { recursive: true, force: true });
  });

  /** Deposits, then reads the wallet once the views include that deposit. */
  async function depositAndCheck(walletId: string, amount: number | string) {
    const accepted = await sut.deposit(walletId, amount);
    expect(accepted.status).toBe(202);
    return sut.check(walletId, `?token=${accepted.body.token}`);
  }

  describe('POST /deposit', () => {
    it('answers 202 with the deposit once Kafka has it, and the balance follows exactly', async () => {
      const w = wallet('exact');
      const first = await sut.deposit(w, '12.50');
      const second = await sut.deposit(w, 4000.01);
      const third = await sut.deposit(w, 0.1);

      expect(first.status).toBe(202);
      expect(first.body).toEqual({
        deposit_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        wallet_id: w,
        amount: 12.5,
        accepted_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        token: expect.any(String),
      });
      expect(second.body.amount).toBe(4000.01);
      const check = await sut.check(w, `?token=${third.body.token}`);
      expect(check.status).toBe(200);
      expect(check.body).toMatchObject({ wallet_id: w, balance: 4012.61, above_threshold: false, balance_minor: '401261', deposit_count: 3 });
    });

    it('takes the original README\'s example as it is written: a decimal string amount', async () => {
      const w = wallet('0x1a35');
      const response = await sut.request('POST', '/deposit', `{"wallet_id": "${w}", "amount": "2000"}`, { 'Content-Type': 'application/json' });

      expect(response.status).toBe(202);
      expect((await sut.check(w, `?token=${response.body.token}`)).body).toMatchObject({ balance: 2000, above_threshold: false });
    });

    it.each([
      ['malformed JSON', '{"wallet_id": "w", "amount": ', {}, 400, 'the body is not valid JSON'],
      ['a text body', 'hello', { 'content-type': 'text/plain' }, 415, 'Content-Type must be application/json'],
      ['a form body', 'wallet_id=w&amount=1', { 'content-type': 'application/x-www-form-urlencoded' }, 415, 'Content-Type must be application/json'],
      ['a body over 16 KiB', `{"wallet_id":"w","amount":1,"pad":"${'x'.repeat(17_000)}"}`, {}, 413, 'the request body is larger than 16384 bytes'],
      ['amount 0', { wallet_id: 'w', amount: 0 }, {}, 422, 'amount must be greater than 0'],
      ['a negative amount', { wallet_id: 'w', amount: -5 }, {}, 422, 'amount must be greater than 0'],
      ['three decimals', { wallet_id: 'w', amount: '1.234' }, {}, 422, 'amount must have at most 2 decimal places'],
      ['an exponent', { wallet_id: 'w', amount: '1e3' }, {}, 422, 'amount must be plain decimal digits'],
      ['an amount over the limit', { wallet_id: 'w', amount: 1_000_000_000_000.01 }, {}, 422, 'amount must be at most 1000000000000'],
      ['a boolean amount', { wallet_id: 'w', amount: true }, {}, 422, 'amount must be a number or a decimal string'],
      ['no amount', { wallet_id: 'w' }, {}, 422, 'amount must be a number or a decimal string'],
      ['a bad wallet id', { wallet_id: 'no spaces', amount: 1 }, {}, 422, 'wallet_id must be 1-128 characters'],
      ['a 129-character wallet id', { wallet_id: 'w'.repeat(129), amount: 1 }, {}, 422, 'wallet_id must be 1-128 characters'],
      ['an unknown field', { wallet_id: 'w', amount: 1, currency: 'EUR' }, {}, 422, 'unknown field currency'],
      ['an empty body', '', {}, 400, 'the body is empty'],
      ['a __proto__ key', '{"wallet_id":"w","amount":1,"meta":{"__proto__":{"admin":true}}}', {}, 400, 'must not contain __proto__'],
      ['an array', [{ wallet_id: 'w', amount: 1 }], {}, 422, 'the body must be a JSON object'],
      ['an empty Idempotency-Key', { wallet_id: 'w', amount: 1 }, { 'Idempotency-Key': '' }, 400, 'Idempotency-Key must be'],
      ['an over-long Idempotency-Key', { wallet_id: 'w', amount: 1 }, { 'Idempotency-Key': 'k'.repeat(129) }, 400, 'Idempotency-Key must be'],
    ])('refuses %s with a clear JSON error, and counts nothing', async (_case, body, headers, status, message) => {
      const response = await sut.request('POST', '/deposit', body, { 'content-type': 'application/json', ...headers });

      expect(response.status).toBe(status);
      expect(response.body).toEqual({ error: expect.stringContaining(message) });
      expect(JSON.stringify(response.body)).not.toMatch(/at \w+ \(|node_modules|Error:/);
    });

    it('changes nothing for refused requests', async () => {
      const w = wallet('refused');
      await sut.request('POST', '/deposit', { wallet_id: w, amount: 0 });
      await sut.request('POST', '/deposit', { wallet_id: w, amount: 1, extra: 1 });
      await sut.request('POST', '/deposit', `{"wallet_id":"${w}","amount":`, { 'content-type': 'application/json' });
      const check = await depositAndCheck(w, 1);

      expect(check.body).toMatchObject({ balance: 1, deposit_count: 1 });
    });

    it('answers a retry with the same Idempotency-Key with the original result, counted once; another body is 409', async () => {
      const w = wallet('idem');
      const key = { 'Idempotency-Key': 'order-7731' };
      const first = await sut.deposit(w, 250, key);
      const retry = await sut.deposit(w, 250, key);
      const conflict = await sut.deposit(w, 251, key);
      await sut.check(w, `?token=${first.body.token}`);
      const later = await sut.deposit(w, '250.00', key);

      expect(retry.status).toBe(202);
      expect(retry.body).toEqual(first.body);
      expect(retry.headers.get('idempotent-replayed')).toBe('true');
      expect(conflict.status).toBe(409);
      expect(conflict.body.error).toContain('Idempotency-Key');
      expect(later.body).toEqual(first.body);
      expect((await sut.check(w, `?token=${later.body.token}`)).body).toMatchObject({ balance: 250, deposit_count: 1 });
    });
  });

  describe('the threshold', () => {
    it('flags a wallet whose deposits within 2 minutes sum to more than 10,000 (6,000 + 4,000.01)', async () => {
      const w = wallet('over');
      await sut.deposit(w, 6000);
      const check = await depositAndCheck(w, 4000.01);

      expect(check.body).toMatchObject({ balance: 10000.01, above_threshold: true, flag_source: 'auto', flagged_at: expect.any(String) });
    });

    it('does not flag exactly 10,000', async () => {
      const w = wallet('exactly');
      await sut.deposit(w, 6000);
      const check = await depositAndCheck(w, '4000.00');

      expect(check.body).toMatchObject({ balance: 10000, above_threshold: false, flagged_at: null, flag_source: null });
    });

    it('stays flagged after later small deposits (sticky)', async () => {
      const w = wallet('sticky');
      await sut.deposit(w, 10_000.01);
      await depositAndCheck(w, 1);
      const check = await depositAndCheck(w, 1);

      expect(check.body).toMatchObject({ above_threshold: true, deposit_count: 3 });
    });
  });

  describe('GET /check/:wallet_id', () => {
    it('answers a wallet never seen with balance 0, not flagged, in the original field names and types', async () => {
      const check = await sut.check(wallet('never'));

      expect(check.status).toBe(200);
      expect(typeof check.body.balance).toBe('number');
      expect(check.body).toMatchObject({ balance: 0, above_threshold: false, deposit_count: 0 });
    });

    it.each([
      ['an invalid wallet id', '/check/bad%20id', 'wallet_id must be'],
      ['a 129-character wallet id', `/check/${'w'.repeat(129)}`, 'wallet_id must be'],
      ['a token that is not one', '/check/w?token=nope', 'token is not a token'],
      ['wait_ms without a token', '/check/w?wait_ms=10', 'wait_ms needs a token'],
      ['a negative wait_ms', '/check/w?token=ZC4wLjA&wait_ms=-1', 'wait_ms must be at least 0'],
    ])('refuses %s with 422', async (_case, path, message) => {
      const response = await sut.request('GET', path);

      expect(response.status).toBe(422);
      expect(response.body).toEqual({ error: expect.stringContaining(message) });
    });

    it('answers 504 when a token\'s deposit is not visible within wait_ms', async () => {
      const w = wallet('future');
      const accepted = await sut.deposit(w, 1);
      const token = Buffer.from(Buffer.from(accepted.body.token, 'base64url').toString().replace(/\d+$/, '999999999')).toString('base64url');
      const response = await sut.check(w, `?token=${token}&wait_ms=300`);

      expect(response.status).toBe(504);
      expect(response.body.error).toContain('not visible yet');
    });
  });

  describe('GET /wallets/:wallet_id/deposits', () => {
    it('pages through the history newest first with a cursor that new deposits do not shift', async () => {
      const w = wallet('history');
      for (const amount of [1, 2, 3, 4]) await sut.deposit(w, amount);
      await depositAndCheck(w, 5);
      const first = await sut.request('GET', `/wallets/${w}/deposits?limit=2`);
      await depositAndCheck(w, 6);
      const second = await sut.request('GET', `/wallets/${w}/deposits?limit=2&cursor=${first.body.next_cursor}`);
      const third = await sut.request('GET', `/wallets/${w}/deposits?limit=2&cursor=${second.body.next_cursor}`);

      expect(first.body.deposits.map((d: { amount: number }) => d.amount)).toEqual([5, 4]);
      expect(second.body.deposits.map((d: { amount: number }) => d.amount)).toEqual([3, 2]);
      expect(third.body.deposits.map((d: { amount: number; seq: number }) => [d.amount, d.seq])).toEqual([[1, 1]]);
      expect(third.body.next_cursor).toBeNull();
      expect(first.body.deposits[0]).toEqual({ deposit_id: expect.any(String), amount: 5, accepted_at: expect.any(String), seq: 5 });
    });

    it('refuses a bad limit or cursor with 422', async () => {
      expect((await sut.request('GET', '/wallets/w/deposits?limit=101')).status).toBe(422);
      expect((await sut.request('GET', '/wallets/w/deposits?limit=abc')).status).toBe(422);
      expect((await sut.request('GET', '/wallets/w/deposits?cursor=%%%')).status).toBe(422);
    });
  });

  describe('admin', () => {
    const auth = { Authorization: `Bearer ${ADMIN_TOKEN}` };

    it.each([
      ['no token', {}],
      ['a wrong token', { Authorization: 'Bearer wrong-token' }],
      ['the token in other case', { Authorization: `Bearer ${ADMIN_TOKEN.toUpperCase()}` }],
      ['an over-long token', { Authorization: `Bearer ${ADMIN_TOKEN}${'x'.repeat(4000)}` }],
      ['another scheme', { Authorization: `Basic ${ADMIN_TOKEN}` }],
    ])('refuses %s with 401, and never echoes the token', async (_case, headers) => {
      const response = await sut.request('PUT', `/admin/wallets/${wallet('x')}/flag`, undefined, headers);

      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toContain('Bearer');
      expect(JSON.stringify(response.body)).not.toContain(ADMIN_TOKEN.slice(0, 8));
    });

    it('flags and unflags by hand; /check shows source and time, and a new window flags again', async () => {
      const w = wallet('manual');
      const flagged = await sut.request('PUT', `/admin/wallets/${w}/flag`, { reason: 'review' }, auth);
      expect(flagged.status).toBe(202);
      expect((await sut.check(w, `?token=${flagged.body.token}`)).body).toMatchObject({ above_threshold: true, flag_source: 'manual' });

      const unflagged = await sut.request('DELETE', `/admin/wallets/${w}/flag`, undefined, { authorization: `bearer ${ADMIN_TOKEN}` });
      expect(unflagged.status).toBe(202);
      expect((await sut.check(w, `?token=${unflagged.body.token}`)).body).toMatchObject({ above_threshold: false, flag_source: null });

      await sut.deposit(w, 6000);
      expect((await depositAndCheck(w, 4000.01)).body).toMatchObject({ above_threshold: true, flag_source: 'auto' });
    });

    it('flags from the command line: npm run flag-wallet', async () => {
      const w = wallet('cli');
      const run = await promisify(execFile)(process.execPath, ['dist/cli/flag-wallet.js', '--wallet', w, '--reason', 'from the CLI'], {
        env: { ...process.env, KAFKA_BROKERS: brokers().join(','), KAFKA_TOPIC_PREFIX: prefix },
      });
      expect(run.stdout).toContain(`flagged ${w}`);

      await expectEventually(async () => (await sut.check(w)).body.above_threshold === true);
      expect((await sut.check(w)).body.flag_source).toBe('manual');
    });
  });

  describe('operations', () => {
    it('keeps an idle connection open 72 s by default, longer than load balancers keep theirs (AWS: 60 s)', async () => {
      const agent = new Agent({ keepAlive: true });
      const keepAlive = await new Promise<string | undefined>((resolve, reject) => {
        get({ host: '127.0.0.1', port: sut.port, path: '/health/live', agent }, (response) => {
          response.resume();
          resolve(response.headers['keep-alive'] as string | undefined);
        }).on('error', reject);
      }).finally(() => agent.destroy());

      expect(keepAlive).toBe('timeout=72');
    });

    it('is ready, serves Prometheus metrics and Swagger UI', async () => {
      const ready = await sut.request('GET', '/health/ready');
      const metrics = await sut.request('GET', '/metrics');
      const docs = await sut.request('GET', '/docs');
      const openapi = await sut.request('GET', '/docs-json');

      expect(ready).toMatchObject({ status: 200, body: { status: 'ready', kafka: true } });
      expect(metrics.body).toContain('http_requests_total{method="POST",route="/deposit",status="202"}');
      expect(metrics.body).toContain('deposits_accepted_total');
      expect(metrics.body).toContain('stream_view_ready{table="balance-table"} 1');
      expect(docs.status).toBe(200);
      expect(Object.keys(openapi.body.paths)).toEqual(
        expect.arrayContaining(['/deposit', '/check/{wallet_id}', '/wallets/{wallet_id}/deposits', '/admin/wallets/{wallet_id}/flag', '/health/ready', '/metrics']),
      );
      expect(Object.keys(openapi.body.paths['/deposit'].post.responses)).toEqual(expect.arrayContaining(['202', '400', '409', '413', '415', '422', '503']));
    });
  });
});

describe('the wallet service across restarts and processes', () => {
  const data = scratchDir('restart');
  const started: Service[] = [];

  afterEach(async () => {
    await Promise.all(started.splice(0).map((service) => service.stop('SIGKILL')));
  });

  afterAll(() => rmSync(data, { recursive: true, force: true }));

  const start = async (name: string, spec: Parameters<typeof Service.start>[1], options?: { waitReady?: boolean }) => {
    const service = await Service.start(name, spec, options);
    started.push(service);
    return service;
  };

  it('keeps every balance, flag, history and Idempotency-Key across a restart, warm and cold', async () => {
    const spec = { entry: 'main' as const, topicPrefix: uniquePrefix('restart'), dataDir: join(data, 'restart') };
    let sut = await start('before', spec);
    const [a, b] = [wallet('a'), wallet('b')];
    const ofA = await sut.deposit(a, 12.34);
    const keyed = await sut.deposit(b, 9000, { 'Idempotency-Key': 'order-7' });
    const last = await sut.deposit(b, 1000.01);
    const state = async () => [(await sut.check(a)).body, (await sut.check(b)).body, (await sut.request('GET', `/wallets/${b}/deposits`)).body];
    await sut.check(a, `?token=${ofA.body.token}`);
    await sut.check(b, `?token=${last.body.token}`);
    const before = await state();
    expect(before[0]).toMatchObject({ balance: 12.34 });
    expect(before[1]).toMatchObject({ balance: 10000.01, above_threshold: true });
    expect(before[2].deposits.map((deposit: { deposit_id: string }) => deposit.deposit_id)).toEqual([last.body.deposit_id, keyed.body.deposit_id]);

    await sut.stop('SIGTERM');
    sut = await start('after SIGTERM', spec);
    expect(await state()).toEqual(before);

    await sut.stop('SIGKILL');
    rmSync(spec.dataDir, { recursive: true, force: true });
    sut = await start('after losing its data', spec);
    expect(await state()).toEqual(before);
    // A retry of the keyed deposit that reaches Kafka again (its API died before answering):
    // the processors restored what they need to spot it, and count it once still.
    const producer = testKafka().producer({ idempotent: true });
    await producer.connect();
    const again = newDeposit(b, 9000_00n, Date.now(), 'order-7');
    await producer.send({ topic: `${spec.topicPrefix}deposit`, acks: -1, messages: [{ key: b, value: Buffer.from(toBinary(DepositSchema, again)) }] });
    await producer.disconnect();
    const probe = await sut.deposit(b, 0.01);
    expect(again.depositId).toBe(keyed.body.deposit_id);
    expect((await sut.check(b, `?token=${probe.body.token}`)).body).toMatchObject({ balance: 10000.02, deposit_count: 3 });
  }, 120_000);

  it('answers correctly with the processors in a separate process from the API', async () => {
    const topicPrefix = uniquePrefix('split');
    const api = await start('api', { entry: 'main', args: ['--no-processors'], topicPrefix, dataDir: join(data, 'split-api') });
    await start('processors', { entry: 'processor', topicPrefix, dataDir: join(data, 'split-processors') });
    const w = wallet('split');
    await api.deposit(w, 6000);
    const last = await api.deposit(w, 4000.01);
    const check = await api.check(w, `?token=${last.body.token}`);

    expect(check.body).toMatchObject({ balance: 10000.01, above_threshold: true, deposit_count: 2 });
    expect(api.process.lines(/owns partitions/)).toEqual([]);
  }, 120_000);

  it('counts a deposit once when its client retries with the same key after the API died', async () => {
    const topicPrefix = uniquePrefix('retry');
    await start('processors', { entry: 'processor', topicPrefix, dataDir: join(data, 'retry-processors') });
    const apiSpec = { entry: 'main' as const, args: ['--no-processors'], topicPrefix, dataDir: join(data, 'retry-api') };
    let api = await start('api', apiSpec);
    const w = wallet('retry');

    // The first attempt reached Kafka and its answer was lost: the API died with it.
    const first = await api.deposit(w, 75, { 'Idempotency-Key': 'payment-1' });
    await api.stop('SIGKILL');
    api = await start('api again', apiSpec);
    const retry = await api.deposit(w, 75, { 'Idempotency-Key': 'payment-1' });

    // Another attempt reached Kafka, but the API died before it could answer at all.
    const producer = testKafka().producer({ idempotent: true });
    await producer.connect();
    const lost = newDeposit(w, 125_00n, Date.now(), 'payment-2');
    await producer.send({ topic: `${topicPrefix}deposit`, acks: -1, messages: [{ key: w, value: Buffer.from(toBinary(DepositSchema, lost)) }] });
    await producer.disconnect();
    const retryOfLost = await api.deposit(w, 125, { 'Idempotency-Key': 'payment-2' });
    const check = await api.check(w, `?token=${retryOfLost.body.token}`);

    expect(retry.body.deposit_id).toBe(first.body.deposit_id);
    expect(retryOfLost.body.deposit_id).toBe(lost.depositId);
    expect(check.body).toMatchObject({ balance: 200, deposit_count: 2 });
  }, 120_000);

  it('answers 503 "admin disabled" when ADMIN_TOKEN is not set', async () => {
    const api = await start('no admin', { entry: 'main', args: ['--no-processors'], topicPrefix: uniquePrefix('noadmin'), dataDir: join(data, 'noadmin') });
    const response = await api.request('PUT', '/admin/wallets/w/flag', undefined, { Authorization: 'Bearer anything' });

    expect(response.status).toBe(503);
    expect(response.body).toEqual({ error: 'admin disabled' });
  }, 60_000);
});

async function expectEventually(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
