import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Browser, type Locator, type Page, chromium } from 'playwright-core';
import { partitionFor } from '../src/streams/index.js';
import { testKafka, uniquePrefix } from './support/kafka.js';
import { Service, scratchDir } from './support/service.js';

const ADMIN_TOKEN = 'e2e-monitor-token-0123456789';
const PARTITIONS = 6;
const GROUPS = ['balance', 'threshold', 'flagger'];
const VIEWS = ['balance-deposits-table', 'balance-table', 'flagger-table', 'threshold-table'];

/** Debian's chromium, driven by playwright-core. */
const launchBrowser = () =>
  chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });

/** Polls what the page shows until `check` accepts it; fails with the last thing seen. */
async function until<T>(what: string, read: () => Promise<T>, check: (seen: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let seen: T | undefined;
  while (Date.now() < deadline) {
    seen = await read().catch(() => undefined);
    if (seen !== undefined && check(seen)) return seen;
    await sleep(250);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${JSON.stringify(seen)}`);
}

/** The rows of a table on the page, as the text of their cells. (Runs in the page: DOM types are not in this project's lib.) */
const rowsOf = (table: Locator): Promise<string[][]> =>
  table.locator('tbody tr').evaluateAll((rows: any[]) => rows.map((row) => Array.from(row.querySelectorAll('td'), (cell: any) => String(cell.textContent ?? '').trim())));

/**
 * The monitor page in a real browser, against the real service on the real broker: what an
 * operator sees before and after entering the admin token, while deposits flag a wallet.
 */
describe('the monitor page', () => {
  const prefix = uniquePrefix('monitor');
  const data = scratchDir('monitor');
  const walletId = `monitor-${Math.random().toString(36).slice(2, 10)}`;
  const partition = partitionFor(walletId, PARTITIONS);
  let sut: Service;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    [sut, browser] = await Promise.all([
      Service.start('monitor', { entry: 'main', topicPrefix: prefix, dataDir: join(data, 'service'), env: { ADMIN_TOKEN, KAFKA_PARTITIONS: String(PARTITIONS) } }),
      launchBrowser(),
    ]);
    page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    page.on('pageerror', (error) => pageErrors.push(error.message));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await sut?.stop();
    rmSync(data, { recursive: true, force: true });
  });

  it('serves the page and a summary to anyone, keys and values only with the admin token', async () => {
    const html = await fetch(`${sut.url}/monitor`);
    const summary = await sut.request('GET', '/monitor/api/summary');
    const guarded = ['/monitor/api/tables', `/monitor/api/lookup?table=balance-table&key=${walletId}`, '/monitor/api/flags'];

    expect(html.status).toBe(200);
    expect(html.headers.get('content-type')).toContain('text/html');
    expect(html.headers.get('content-security-policy')).toContain("script-src 'sha256-");
    expect(await html.text()).toContain('depositaja monitor');
    expect(summary.status).toBe(200);
    expect(summary.body.groups.map((group: { group: string }) => group.group).sort()).toEqual([...GROUPS].sort());
    expect(JSON.stringify(summary.body)).not.toContain(walletId);
    for (const path of guarded) {
      expect((await sut.request('GET', path)).status).toBe(401);
      expect((await sut.request('GET', path, undefined, { Authorization: 'Bearer not-the-token-0123456789' })).status).toBe(401);
      expect((await sut.request('GET', path, undefined, { Authorization: `Bearer ${ADMIN_TOKEN}` })).status).toBe(path.includes('lookup') ? 404 : 200);
    }
  });

  it("shows an operator the groups, the views, a wallet's balance and its flag", async () => {
    await page.goto(`${sut.url}/monitor`);

    // Locked: the public summary is there, the table browser is not.
    await until('the groups', () => rowsOf(page.getByRole('table', { name: 'partitions of group balance' })), (rows) => rows.length === PARTITIONS);
    expect(await page.getByRole('button', { name: 'Look up' }).isVisible()).toBe(false);

    await page.getByLabel('Admin token', { exact: true }).fill('not-the-token-0123456789');
    await page.getByRole('button', { name: 'Unlock' }).click();
    await until('the refusal', () => page.locator('#access-state').innerText(), (text) => text.includes('the token was refused'));
    expect(await page.getByRole('button', { name: 'Look up' }).isVisible()).toBe(false);

    await page.getByLabel('Admin token', { exact: true }).fill(ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Unlock' }).click();
    await until('the unlocked table browser', () => page.getByRole('button', { name: 'Look up' }).isVisible(), Boolean);

    // 6,000 then 4,000.01 within 2 minutes: over 10,000, flagged. And one record nobody can read.
    await sut.deposit(walletId, 6000);
    const second = await sut.deposit(walletId, 4000.01);
    expect((await sut.check(walletId, `?token=${second.body.token}`)).body).toMatchObject({ balance: 10000.01, above_threshold: true });
    const producer = testKafka().producer();
    await producer.connect();
    await producer.send({ topic: `${prefix}deposit`, messages: [{ key: walletId, value: Buffer.from([0xff, 0xff, 0xff]) }] });
    await producer.disconnect();

    // Every group owns all partitions here and runs them; the wallet's partition has caught up.
    // balance: the two deposits; threshold: them and the flag event it emitted (it reads flag_wallet
    // for manual flags); flagger: the flag event. The unreadable record is a dead letter, not processed.
    const expectedProcessed: Record<string, string> = { balance: '2', threshold: '3', flagger: '1' };
    for (const group of GROUPS) {
      const rows = await until(
        `group ${group} caught up on partition ${partition}`,
        () => rowsOf(page.getByRole('table', { name: `partitions of group ${group}` })),
        (seen) => seen.length === PARTITIONS && seen[partition][3] === '0' && seen[partition][4] === expectedProcessed[group],
      );
      expect(rows.map((row) => row[0])).toEqual(['0', '1', '2', '3', '4', '5']);
      expect(rows.map((row) => row[1])).toEqual(Array(PARTITIONS).fill('running'));
      expect(rows.every((row) => /^(\d+|-)$/.test(row[3]))).toBe(true);
    }
    for (const group of ['balance', 'threshold']) {
      const facts = page.getByRole('article', { name: `group ${group}` }).locator('.facts');
      await until(`the dead letter in group ${group}`, () => facts.innerText(), (text) => text.includes('1 dead letter(s)'));
    }
    const views = await until('the views', () => rowsOf(page.getByRole('table', { name: 'views' })), (rows) => rows.length === VIEWS.length);
    expect(views.map((row) => [row[0], row[1], row[2]]).sort()).toEqual(VIEWS.map((table) => [table, 'ready', '0']));

    // The table browser: the wallet's balance, exact (int64 as a decimal string).
    await page.getByLabel('Table', { exact: true }).selectOption('balance-table');
    await page.getByLabel('Key', { exact: true }).fill(walletId);
    await page.getByRole('button', { name: 'Look up' }).click();
    const value = await until('the balance', () => page.getByLabel('value', { exact: true }).innerText(), (text) => text.includes('"balanceMinor"'));
    expect(JSON.parse(value)).toMatchObject({ balanceMinor: '1000001', depositCount: '2' });
    expect(await page.locator('#lookup-source').innerText()).toContain(`${walletId} in balance-table, from view`);

    // The flag, among the last flag events.
    const flags = await until(
      'the flag event',
      () => rowsOf(page.getByRole('table', { name: 'last flag events' })),
      (rows) => rows.some((row) => row[0] === walletId),
    );
    expect(flags.find((row) => row[0] === walletId)).toEqual([walletId, 'flagged', 'auto', expect.any(String), expect.stringContaining('10000.01')]);

    await page.screenshot({ path: process.env.UPDATE_SCREENSHOTS ? 'docs/monitor.png' : join(data, 'monitor.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
    expect(page.url()).not.toContain(ADMIN_TOKEN);
    expect(sut.process.output.join('\n')).not.toContain(ADMIN_TOKEN);
  }, 180_000);

  it('forgets the token when the operator locks the page', async () => {
    await page.getByRole('button', { name: 'Lock' }).click();

    expect(await page.getByRole('button', { name: 'Look up' }).isVisible()).toBe(false);
    expect(await page.evaluate(() => Object.keys((globalThis as any).sessionStorage))).toEqual([]);
    await page.reload();
    await until('the locked page', () => page.getByRole('button', { name: 'Unlock' }).isVisible(), Boolean);
    expect(await page.getByRole('button', { name: 'Look up' }).isVisible()).toBe(false);
  }, 60_000);
});
