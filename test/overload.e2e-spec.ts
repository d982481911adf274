import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { eventually, uniquePrefix } from './support/kafka.js';
import { Service, scratchDir } from './support/service.js';

const WALLETS = 20;
/** Rounds at least, and at most: the limit is judged on windows of 250 ms, which a fast machine can answer six rounds within. */
const ROUNDS = 6;
const MAX_ROUNDS = 40;
const CONCURRENT = 300;

/**
 * Past capacity the service refuses new requests at once (503 + Retry-After) instead of letting
 * them wait, keeps answering its probes, and counts every deposit it accepted. The service runs
 * with a latency target no request can meet (OVERLOAD_LATENCY_MS=1), so that its adaptive
 * concurrency limit falls to the minimum and sheds whatever goes past it.
 */
describe('overload', () => {
  const prefix = uniquePrefix('overload');
  const data = scratchDir('overload');
  let sut: Service;

  beforeAll(async () => {
    sut = await Service.start('service', { entry: 'main', topicPrefix: prefix, dataDir: join(data, 'svc'), env: { OVERLOAD_LATENCY_MS: '1' } });
  }, 120_000);

  afterAll(async () => {
    await sut?.stop('SIGKILL');
    rmSync(data, { recursive: true, force: true });
  });

  it('sheds what is past its limit with 503 and Retry-After, answers probes, and counts every deposit it accepted', async () => {
    const acceptedMinor = new Map<string, number>();
    const statuses = new Map<number, number>();
    let probes: number[] = [];
    let rounds = 0;
    for (; rounds < MAX_ROUNDS && (rounds < ROUNDS || !statuses.has(503)); rounds++) {
      const answers = await Promise.all([
        ...Array.from({ length: CONCURRENT }, async (_, index) => {
          const walletId = `ovl-${index % WALLETS}`;
          const response = await sut.deposit(walletId, '0.07');
          if (response.status === 202) acceptedMinor.set(walletId, (acceptedMinor.get(walletId) ?? 0) + 7);
          if (response.status === 503) {
            expect(response.body).toEqual({ error: 'the service is at capacity; retry' });
            expect(response.headers.get('retry-after')).toBe('1');
          }
          return response.status;
        }),
        sut.request('GET', '/health/live').then((response) => -response.status),
      ]);
      probes = [...probes, ...answers.filter((status) => status < 0).map((status) => -status)];
      for (const status of answers.filter((answer) => answer > 0)) statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }

    expect([...statuses.keys()].sort()).toEqual([202, 503]);
    expect(probes).toEqual(Array(rounds).fill(200));
    const metrics = (await sut.request('GET', '/metrics')).body as string;
    expect(Number(/^http_requests_shed_total (\d+)$/m.exec(metrics)?.[1])).toBe(statuses.get(503));
    for (const [walletId, minor] of acceptedMinor) {
      await eventually(`${walletId} to show every accepted deposit`, async () => {
        const { body } = await sut.check(walletId);
        return body.balance_minor === String(minor);
      });
    }
  }, 120_000);
});
