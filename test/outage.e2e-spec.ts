import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { eventually, uniquePrefix } from './support/kafka.js';
import { OwnBroker } from './support/own-broker.js';
import { Service, scratchDir } from './support/service.js';

/**
 * The broker goes away while the service runs, and comes back. The service is not restarted.
 */
describe('a broker outage', () => {
  const broker = new OwnBroker('outage', Number(process.env.OUTAGE_KAFKA_PORT ?? 19492));
  const data = scratchDir('outage');
  let sut: Service;

  beforeAll(async () => {
    await broker.start(true);
    sut = await Service.start('service', {
      entry: 'main',
      topicPrefix: uniquePrefix('outage'),
      dataDir: join(data, 'a'),
      env: { KAFKA_BROKERS: broker.brokers },
    });
  }, 120_000);

  afterAll(async () => {
    await sut?.stop();
    await broker.destroy();
    rmSync(data, { recursive: true, force: true });
  }, 60_000);

  /** A request that must be answered within 5 s: a hang fails the test. */
  const within5s = (method: string, path: string, body?: unknown) =>
    fetch(`${sut.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(5000),
    }).then(async (response) => ({ status: response.status, headers: response.headers, body: (await response.json()) as any }));

  it('answers deposits 503 with Retry-After, keeps reads going from the views, and recovers by itself', async () => {
    const before = await sut.deposit('w-outage', 100);
    expect(before.status).toBe(202);
    expect((await sut.check('w-outage', `?token=${before.body.token}`)).body).toMatchObject({ balance: 100 });

    await broker.stop();

    const refused: Array<{ status: number; error: string }> = [];
    for (let i = 0; i < 5; i++) {
      const response = await within5s('POST', '/deposit', { wallet_id: 'w-outage', amount: 1 });
      refused.push({ status: response.status, error: response.body.error });
      expect(response.headers.get('retry-after')).toBe('1');
    }
    expect(refused.map(({ status }) => status)).toEqual([503, 503, 503, 503, 503]);
    expect(refused.every(({ error }) => /Kafka/.test(error))).toBe(true);
    // A 503 either says the deposit was not recorded, or that its fate is unknown (in flight when the broker went).
    const unknown = refused.filter(({ error }) => /may or may not/.test(error)).length;

    const read = await within5s('GET', '/check/w-outage');
    expect(read).toMatchObject({ status: 200, body: { balance: 100 } });
    await eventually('readiness to report Kafka unreachable', async () => (await within5s('GET', '/health/ready')).status === 503, 20_000);
    expect((await within5s('GET', '/health/ready')).body).toMatchObject({ status: 'not ready', kafka: false });
    expect((await within5s('GET', '/health/live')).status).toBe(200);

    await broker.start();

    let after: Awaited<ReturnType<typeof within5s>> | undefined;
    await eventually(
      'deposits to be accepted again',
      async () => {
        after = await within5s('POST', '/deposit', { wallet_id: 'w-outage', amount: 10 });
        return after.status === 202;
      },
      90_000,
    );
    const check = await sut.check('w-outage', `?token=${after!.body.token}&wait_ms=30000`);
    expect(check.status).toBe(200);
    // No deposit refused as "not recorded" was counted; one of unknown fate may have been.
    expect(check.body.balance).toBeGreaterThanOrEqual(110);
    expect(check.body.balance).toBeLessThanOrEqual(110 + unknown);
    expect(check.body.deposit_count).toBe(2 + (check.body.balance - 110));
    await eventually('readiness to come back', async () => (await within5s('GET', '/health/ready')).status === 200, 60_000);
    expect(sut.process.running).toBe(true);
  }, 240_000);
});
