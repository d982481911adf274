import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { brokers, uniquePrefix } from './support/kafka.js';
import { TestProcess } from './support/processes.js';
import { Service, scratchDir } from './support/service.js';

/**
 * The admin routes' bearer token, as an attacker and an operator see it: every wrong token is
 * refused the same way on every admin route, and the token never shows up in a response or in
 * the service's logs, even at debug level.
 */
describe('admin authentication', () => {
  // Mixed case, so that case variants of it are other strings; random, so that a log line
  // holding it cannot come from anywhere but this run.
  const token = `Adm1nToken-${randomBytes(16).toString('hex')}-XyZ`;
  const prefix = uniquePrefix('admin-sec');
  const data = scratchDir('admin-sec');
  let sut: Service;
  let routes: Array<{ method: string; path: string }>;

  beforeAll(async () => {
    sut = await Service.start('service', {
      entry: 'main',
      topicPrefix: prefix,
      dataDir: join(data, 'svc'),
      env: { ADMIN_TOKEN: token, LOG_FORMAT: 'json', LOG_LEVEL: 'debug' },
    });
    // Every operation the OpenAPI document marks as needing the bearer token.
    const openapi = (await sut.request('GET', '/docs-json')).body;
    routes = Object.entries(openapi.paths as Record<string, Record<string, { security?: Array<Record<string, unknown>> }>>).flatMap(([path, operations]) =>
      Object.entries(operations)
        .filter(([, operation]) => operation.security?.some((scheme) => 'bearer' in scheme))
        .map(([method, _operation]) => ({ method: method.toUpperCase(), path: path.replace(/\{[^}]+\}/g, `adm-${randomBytes(3).toString('hex')}`) })),
    );
  }, 120_000);

  afterAll(async () => {
    // Not a graceful stop: shutdown has its own tests (shutdown.e2e-spec.ts).
    await sut?.stop('SIGKILL');
    rmSync(data, { recursive: true, force: true });
  });

  const swapCase = (text: string) => [...text].map((char) => (char === char.toUpperCase() ? char.toLowerCase() : char.toUpperCase())).join('');
  const flip = (char: string) => (char === 'a' ? 'b' : 'a');

  /** Authorization headers that must all be refused. */
  function wrongCredentials(): Array<[string, Record<string, string>]> {
    const cases: Array<[string, Record<string, string>]> = [
      ['no Authorization header', {}],
      ['an empty Authorization header', { authorization: '' }],
      ['the scheme alone', { authorization: 'Bearer' }],
      ['a wrong token', { authorization: 'Bearer wrong-token-0123456789' }],
      ['the token in upper case', { authorization: `Bearer ${token.toUpperCase()}` }],
      ['the token in lower case', { authorization: `Bearer ${token.toLowerCase()}` }],
      ['the token with its case swapped', { authorization: `Bearer ${swapCase(token)}` }],
      ['the token plus one character', { authorization: `Bearer ${token}x` }],
      ['the token plus 4,000 characters', { authorization: `Bearer ${token}${'x'.repeat(4000)}` }],
      ['the token plus 12,000 characters', { authorization: `Bearer ${token}${'x'.repeat(12_000)}` }],
      ['the token twice', { authorization: `Bearer ${token}${token}` }],
      ['the token without its last character', { authorization: `Bearer ${token.slice(0, -1)}` }],
      ['the token with its last character changed', { authorization: `Bearer ${token.slice(0, -1)}${flip(token.at(-1)!)}` }],
      ['the token with its first character changed', { authorization: `Bearer ${flip(token[0])}${token.slice(1)}` }],
      ['the token with a Latin-1 look-alike', { authorization: `Bearer ${token.replace('A', '\u00c0')}` }],
      ['the token without a scheme', { authorization: token }],
      ['the token under Basic', { authorization: `Basic ${token}` }],
      ['the token under Basic, base64', { authorization: `Basic ${Buffer.from(`admin:${token}`).toString('base64')}` }],
      ['the token under another scheme', { authorization: `Token ${token}` }],
      ['the token after two spaces', { authorization: `Bearer  ${token}` }],
      ['the token after a tab', { authorization: `Bearer\t${token}` }],
      ['the token in another header', { 'x-admin-token': token }],
    ];
    return cases;
  }

  it('finds the admin routes to test in the OpenAPI document', () => {
    expect(routes).toEqual(
      expect.arrayContaining([
        { method: 'PUT', path: expect.stringMatching(/^\/admin\/wallets\/[^/]+\/flag$/) },
        { method: 'DELETE', path: expect.stringMatching(/^\/admin\/wallets\/[^/]+\/flag$/) },
      ]),
    );
  });

  it('refuses missing, wrong, differently-cased and over-long tokens with the same 401 on every admin route', async () => {
    const answers = new Set<string>();
    for (const route of routes) {
      for (const [name, headers] of wrongCredentials()) {
        const response = await sut.request(route.method, route.path, undefined, headers);
        const seen = `${route.method} ${route.path} with ${name}`;

        expect({ seen, status: response.status }).toEqual({ seen, status: 401 });
        expect({ seen, body: response.body }).toEqual({ seen, body: { error: expect.any(String) } });
        expect(response.headers.get('www-authenticate')).toMatch(/^Bearer /);
        answers.add(JSON.stringify([response.status, response.body, response.headers.get('www-authenticate')]));
      }
    }
    // One answer for every wrong credential: nothing tells a guess that is closer from one that is not.
    expect(answers.size).toBe(1);
  });

  it('refuses every prefix of the token, every one-character change and every extension the same way', async () => {
    // A comparison that stops at the first difference, or that trips on a length mismatch
    // (timingSafeEqual on raw buffers throws), would answer some of these differently.
    const guesses = new Set<string>();
    for (let length = 0; length < token.length; length++) guesses.add(token.slice(0, length));
    for (let position = 0; position < token.length; position++) guesses.add(`${token.slice(0, position)}${flip(token[position])}${token.slice(position + 1)}`);
    for (let extra = 1; extra <= 64; extra++) guesses.add(`${token}${'='.repeat(extra)}`);
    guesses.delete(token);
    const wrong = await sut.request('PUT', '/admin/wallets/adm-prefix/flag', undefined, { authorization: 'Bearer wrong-token-0123456789' });
    const answers = new Map<string, number>();
    for (const guess of guesses) {
      const response = await sut.request('PUT', '/admin/wallets/adm-prefix/flag', undefined, { authorization: `Bearer ${guess}` });
      const answer = `${response.status} ${JSON.stringify(response.body)}`;
      answers.set(answer, (answers.get(answer) ?? 0) + 1);
    }

    expect(wrong.status).toBe(401);
    expect(Object.fromEntries(answers)).toEqual({ [`401 ${JSON.stringify(wrong.body)}`]: guesses.size });
  });

  it('lets the right token in on every admin route (scheme in any case), so the refusals above are real', async () => {
    for (const route of routes) {
      for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
        const response = await sut.request(route.method, route.path, undefined, { authorization: `${scheme} ${token}` });
        const seen = `${route.method} ${route.path} with ${scheme}`;

        expect({ seen, authorized: response.status !== 401 && response.status < 500 }).toEqual({ seen, authorized: true });
      }
    }
    const flagged = await sut.request('PUT', '/admin/wallets/adm-flagged/flag', { reason: 'security test' }, { authorization: `Bearer ${token}` });
    expect(flagged.status).toBe(202);
    expect((await sut.check('adm-flagged', `?token=${flagged.body.token}`)).body).toMatchObject({ above_threshold: true, flag_source: 'manual' });
  });

  it('never puts the token in a response: not in errors, metrics, health or the API description', async () => {
    const leaks: string[] = [];
    const look = (what: string, text: string) => {
      if (containsSecret(text, token)) leaks.push(what);
    };
    for (const route of routes) {
      for (const [name, headers] of wrongCredentials()) {
        const response = await sut.request(route.method, route.path, undefined, headers);
        look(`${route.method} ${route.path} with ${name}`, JSON.stringify(response.body) + JSON.stringify([...response.headers]));
      }
    }
    for (const path of ['/metrics', '/health/ready', '/health/live', '/docs-json', '/monitor/api/summary']) {
      look(path, JSON.stringify((await sut.request('GET', path)).body));
    }
    const viaQuery = await sut.request('PUT', `/admin/wallets/adm-query/flag?token=${token}`);
    look('a token in the query', JSON.stringify(viaQuery.body));

    expect(viaQuery.status).toBe(401);
    expect(leaks).toEqual([]);
  });

  it('never writes the token to the log, at debug level, after admin calls with good and bad tokens', async () => {
    await sut.request('PUT', '/admin/wallets/adm-log/flag', { reason: 'log test' }, { authorization: `Bearer ${token}` });
    await sut.request('DELETE', '/admin/wallets/adm-log/flag', undefined, { authorization: `bearer ${token}` });
    await sut.request('PUT', '/admin/wallets/adm-log/flag', undefined, { authorization: `Bearer ${token}x` });
    await sut.request('PUT', '/admin/wallets/adm-log/flag', undefined, { authorization: `Bearer ${token.toUpperCase()}` });
    await sut.request('PUT', `/admin/wallets/adm-log/flag?token=${token}`, undefined, { authorization: `Basic ${token}` });
    await sut.request('POST', '/deposit', { wallet_id: 'adm-log', amount: 1 }, { authorization: `Bearer ${token}` });
    // The process logs asynchronously: its lines about these calls arrive shortly after.
    await new Promise((resolve) => setTimeout(resolve, 1000));

    const output = sut.process.output.join('\n');
    // The capture works and is at debug level (kafkajs lines are logged at debug), so an absence means something.
    expect(output).toContain(prefix);
    expect(output).toMatch(/"level":(?:20|"debug")/);
    // Each of the admin calls above has its request line in the log (which never holds headers).
    expect(sut.process.lines(/adm-log\/flag/).length).toBeGreaterThanOrEqual(5);
    expect(containsSecret(output, token)).toBe(false);
  });

  it.each([
    ['too short', `Sh0rt-${randomBytes(4).toString('hex')}`],
    ['too long', `L0ng-${randomBytes(150).toString('hex')}`],
  ])('refuses to start with an ADMIN_TOKEN %s, naming the variable but not printing its value', async (_case, secret) => {
    const child = new TestProcess('invalid token', 'dist/main.js', [], {
      KAFKA_BROKERS: brokers().join(','),
      KAFKA_TOPIC_PREFIX: prefix,
      DATA_DIR: join(data, 'invalid'),
      PORT: '0',
      ADMIN_TOKEN: secret,
    });
    const exit = await child.exited;
    const output = child.output.join('\n');

    expect(exit.code).toBe(1);
    expect(output).toContain('ADMIN_TOKEN');
    expect(containsSecret(output, secret)).toBe(false);
  }, 60_000);
});

/** Whether `text` holds the secret, a 12-character piece of it, or its base64 form. */
function containsSecret(text: string, secret: string): boolean {
  if (text.includes(secret) || text.includes(Buffer.from(secret).toString('base64'))) return true;
  for (let start = 0; start + 12 <= secret.length; start++) if (text.includes(secret.slice(start, start + 12))) return true;
  return false;
}
