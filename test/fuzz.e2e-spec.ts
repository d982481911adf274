import { rmSync } from 'node:fs';
import { Agent, type IncomingHttpHeaders, request } from 'node:http';
import { join } from 'node:path';
import fc from 'fast-check';
import { uniquePrefix } from './support/kafka.js';
import { Service, scratchDir } from './support/service.js';

/**
 * Hostile input against the running service (one process for the file, on the real broker),
 * property by property with fast-check. Every property checks what a client sees:
 *   - never a 5xx (except the 504 the SPEC prescribes when a read-your-writes wait runs out);
 *   - every non-2xx body is exactly `{"error": "<string>"}`, with no stack trace, file path or
 *     internal error class or code in it;
 *   - a valid deposit is a 202, an invalid one is refused, and the process keeps running;
 * and at the end every deposit answered 202 is counted exactly once, no refused one is counted,
 * and the service's own deposits_accepted_total agrees with the 202s it sent.
 *
 * FUZZ_RUNS sets the number of cases (one HTTP request each), spread over the properties; the
 * default, 10000, is the full run and takes about a minute on 2 cores. FUZZ_SEED replays a run
 * (the seed is printed with the number of cases).
 */
const TOTAL_CASES = Number(process.env.FUZZ_RUNS ?? 10_000);
const SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
/** Each property runs in this many concurrent lanes (seeds SEED, SEED+1, …). */
const LANES = 4;
const ADMIN_TOKEN = 'fuzz-admin-token-0123456789abcdef';
const CHECK_MAX_WAIT_MS = 30_000;
const WALLET_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const IDEMPOTENCY_KEY = /^[\x20-\x7e]{1,128}$/;
const MAX_AMOUNT_MINOR = 1_000_000_000_000n * 100n;

/** What an error body must never carry: a stack frame, a file path, an internal class or code. */
const LEAK = /\n\s*at |\bat \S+ \(|node_modules|\/work\/|\/dist\/|\/src\/|\.[cm]?[jt]s\b|\b[A-Z][A-Za-z]*(?:Error|Exception)\b|\bFST_[A-Z_]+|\bERR_[A-Z_]+|\bE[A-Z]{4,}\b/;

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

interface Accepted {
  walletId: string;
  minor: bigint;
  token: string;
}

describe('hostile input (fuzzing the running service)', () => {
  const prefix = uniquePrefix('fuzz');
  const data = scratchDir('fuzz');
  const agent = new Agent({ keepAlive: true, maxSockets: LANES * 2 });
  const counts: Record<string, number> = {};
  const statuses: Record<number, number> = {};
  const accepted: Accepted[] = [];
  /** Valid wallet ids of this run whose deposit was refused: none may ever hold money. */
  const refused: string[] = [];
  let sut: Service;
  let walletSeq = 0;
  let deposits202 = 0;
  let acceptedBefore = 0;
  let readToken = '';
  const readWallet = 'fuzz-read-wallet';

  beforeAll(async () => {
    sut = await Service.start('service', { entry: 'main', topicPrefix: prefix, dataDir: join(data, 'svc'), env: { ADMIN_TOKEN } });
    const first = await send('POST', '/deposit', { 'content-type': 'application/json' }, JSON.stringify({ wallet_id: readWallet, amount: 1 }));
    expect(first.status).toBe(202);
    readToken = JSON.parse(first.text).token;
    acceptedBefore = await acceptedTotal();
  }, 120_000);

  afterAll(async () => {
    agent.destroy();
    // Not a graceful stop: shutdown has its own tests (shutdown.e2e-spec.ts).
    await sut?.stop('SIGKILL');
    rmSync(data, { recursive: true, force: true });
    const total = Object.values(counts).reduce((sum, n) => sum + n, 0);
    const parts = Object.entries(counts).map(([name, n]) => `${name} ${n}`).join(', ');
    const answers = Object.entries(statuses).map(([status, n]) => `${status}: ${n}`).join(', ');
    process.stdout.write(`\nfuzz: ${total} cases (${parts}); answers ${answers}; FUZZ_RUNS=${TOTAL_CASES} FUZZ_SEED=${SEED}\n`);
  });

  function send(method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const outgoing = request({ host: '127.0.0.1', port: sut.port, method, path, headers, agent }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, text: Buffer.concat(chunks).toString() }));
        response.on('error', reject);
      });
      outgoing.on('error', reject);
      outgoing.end(body);
    });
  }

  /** POST /deposit, counting every 202 (whatever the case then decides about it). */
  async function postDeposit(headers: Record<string, string>, raw: string): Promise<Reply> {
    const reply = await send('POST', '/deposit', headers, Buffer.from(raw));
    if (reply.status === 202) deposits202++;
    return reply;
  }

  async function acceptedTotal(): Promise<number> {
    const metrics = await send('GET', '/metrics');
    return Number(/^deposits_accepted_total (\d+)/m.exec(metrics.text)?.[1] ?? 0);
  }

  /**
   * A wallet id no other case uses, so that its balance tells what this case did. The colons
   * keep it unique when a case adds characters around it (which never include a colon).
   */
  const nextWalletId = () => `:${(++walletSeq).toString(36)}:`;

  /** Runs a property in LANES concurrent lanes, `share` of FUZZ_RUNS cases in all. */
  async function fuzz<T>(name: string, share: number, arbitrary: fc.Arbitrary<T>, check: (input: T) => Promise<void>, shrink = true): Promise<void> {
    const numRuns = Math.max(1, Math.ceil((TOTAL_CASES * share) / LANES));
    const property = fc.asyncProperty(arbitrary, async (input) => {
      counts[name] = (counts[name] ?? 0) + 1;
      await check(input);
    });
    const lanes = await Promise.allSettled(
      Array.from({ length: LANES }, (_, lane) => fc.assert(property, { numRuns, seed: SEED + lane, endOnFailure: !shrink })),
    );
    const failed = lanes.find((lane): lane is PromiseRejectedResult => lane.status === 'rejected');
    if (failed) throw failed.reason;
    expect(sut.process.running).toBe(true);
    expect((await send('GET', '/health/live')).status).toBe(200);
  }

  /** Status allowed, and the shape of every answer that is not a success. */
  function expectAnswer(reply: Reply, allowed: number[], echoes: string[] = []): void {
    statuses[reply.status] = (statuses[reply.status] ?? 0) + 1;
    if (!allowed.includes(reply.status)) {
      throw new Error(`status ${reply.status}, expected one of ${allowed.join(', ')}; body ${reply.text.slice(0, 300)}`);
    }
    if (reply.status >= 500 && reply.status !== 504) throw new Error(`a ${reply.status}: ${reply.text.slice(0, 300)}`);
    if (reply.status < 300) return;
    expectErrorBody(reply, echoes);
  }

  // --- POST /deposit bodies -------------------------------------------------------------------

  it('answers every near-valid deposit body: 202 exactly when valid, else a clean 400/422', async () => {
    await fuzz('bodies', 0.4, depositBody(), async (input) => {
      const walletId = nextWalletId();
      const raw = materialise(input.raw, walletId);
      const reply = await postDeposit({ 'content-type': 'application/json' }, raw);
      const verdict = depositVerdict(raw, input.duplicates);
      expectAnswer(reply, verdict.statuses, topLevelKeys(raw));
      settle(reply, verdict, walletId);
    });
  }, 600_000);

  it('refuses arbitrary JSON values and nesting within 600 levels cleanly', async () => {
    await fuzz('json', 0.1, anyJsonBody(), async (raw) => {
      const reply = await postDeposit({ 'content-type': 'application/json' }, raw);
      const verdict = depositVerdict(raw, false);
      expectAnswer(reply, verdict.statuses, topLevelKeys(raw));
      settle(reply, verdict, undefined);
    });
  }, 600_000);

  // --- headers -------------------------------------------------------------------------------

  it('answers any Content-Type, Idempotency-Key and X-Request-Id (headers within 16 KiB) with 202, 400 or 415 as due', async () => {
    await fuzz('headers', 0.2, depositHeaders(), async (input) => {
      const walletId = nextWalletId();
      const headers: Record<string, string> = {};
      if (input.contentType !== undefined) headers['content-type'] = input.contentType;
      if (input.key !== undefined) headers['idempotency-key'] = input.key;
      if (input.requestId !== undefined) headers['x-request-id'] = input.requestId;
      const raw = JSON.stringify({ wallet_id: walletId, amount: input.amount });
      const reply = await postDeposit(headers, raw);

      const media = mediaVerdict(input.contentType);
      const keyOk = input.key === undefined || IDEMPOTENCY_KEY.test(trimOws(input.key));
      let statuses: number[];
      if (media === 'other') statuses = keyOk ? [415] : [400, 415];
      else if (media === 'json') statuses = keyOk ? [202] : [400];
      else statuses = keyOk ? [202, 415] : [400, 415];
      expectAnswer(reply, statuses);
      expect(reply.headers['idempotent-replayed']).toBeUndefined();
      settle(reply, { statuses, walletId, minor: minorOf(input.amount) }, walletId);
    });
  }, 600_000);

  // --- path parameters ------------------------------------------------------------------------

  it('answers any percent-encoded wallet id in /check, /wallets/:id/deposits and the admin routes', async () => {
    await fuzz('paths', 0.2, pathCase(), async (input) => {
      const path = input.route.replace(':id', input.encoded);
      const headers: Record<string, string> = {};
      if (input.auth === 'good') headers.authorization = `Bearer ${ADMIN_TOKEN}`;
      if (input.auth === 'bad') headers.authorization = `Bearer ${ADMIN_TOKEN.slice(0, -1)}x`;
      const reply = await send(input.method, path, headers);

      const admin = input.route.startsWith('/admin');
      const valid = WALLET_ID.test(input.id);
      let statuses: number[];
      if (input.id === '') statuses = [404];
      else if (admin && input.auth !== 'good') statuses = [401];
      else if (!valid) statuses = [422];
      else statuses = admin ? [202] : [200];
      expectAnswer(reply, statuses, [path]);
      if (reply.status === 200 || reply.status === 202) expect(JSON.parse(reply.text).wallet_id).toBe(input.id);
    });
  }, 600_000);

  // --- query strings --------------------------------------------------------------------------

  it('answers any query string of /check (token, wait_ms) and of the history (limit, cursor)', async () => {
    const history = await send('GET', `/wallets/${readWallet}/deposits?limit=1`);
    expect(history.status).toBe(200);
    const future = Buffer.from(Buffer.from(readToken, 'base64url').toString().replace(/\d+$/, '999999999')).toString('base64url');
    await fuzz('queries', 0.1, queryCase(readToken, future), async (input) => {
      const query = input.params.map(([name, value]) => `${name}=${value}`).join('&');
      const base = input.route === 'check' ? `/check/${readWallet}` : `/wallets/${readWallet}/deposits`;
      const reply = await send('GET', `${base}?${query}`);
      const verdict = input.route === 'check' ? checkQueryVerdict(input.params, readToken, future) : historyQueryVerdict(input.params);
      expectAnswer(reply, verdict, input.params.map(([name]) => decodeQueryValue(name) ?? name));
    });
  }, 600_000);

  // --- inputs the properties above leave out, because the service mishandles them ------------

  it('refuses unknown fields named like members of Object.prototype (toString, constructor, …) with 422', async () => {
    const input = fc.record({ name: fc.constantFrom(...PROTOTYPE_NAMES), value: jsonValueText, first: fc.boolean() });
    await fuzz('prototype-names', 0.01, input, async ({ name, value, first }) => {
      const walletId = nextWalletId();
      const members = [`"wallet_id":"${walletId}"`, '"amount":1'];
      const extra = `${JSON.stringify(name)}:${value}`;
      const body = `{${(first ? [extra, ...members] : [...members, extra]).join(',')}}`;
      const reply = await postDeposit({ 'content-type': 'application/json' }, body);
      // A __proto__ or constructor.prototype key anywhere in the body (the field itself may be
      // `constructor` with an object holding `prototype`) is refused by the JSON parser, with a 400.
      const statuses = hasProtoKey(JSON.parse(body)) ? [400, 422] : [422];
      expectAnswer(reply, statuses, [name]);
      settle(reply, { statuses, walletId }, walletId);
    });
  }, 600_000);

  it('answers JSON nested deeper than 600 levels, up to the 16 KiB body limit, with a 4xx, never a 500', async () => {
    const input = fc.record({ raw: nestedBody(601, 8000), admin: fc.boolean() });
    await fuzz('deep', 0.01, input, async ({ raw, admin }) => {
      const reply = admin
        ? await send('PUT', '/admin/wallets/fuzz-deep/flag', { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` }, Buffer.from(raw))
        : await postDeposit({ 'content-type': 'application/json' }, raw);
      expectAnswer(reply, Buffer.byteLength(raw) > 16 * 1024 ? [413] : [422], topLevelKeys(raw));
    });
  }, 600_000);

  const isValidEncoding = (segment: string) => {
    try {
      return /^[A-Za-z0-9._:-]{1,128}$/.test(decodeURIComponent(segment));
    } catch {
      return false;
    }
  };

  it('answers malformed percent-encodings and over-long wallet ids in the path with a 4xx {"error"}', async () => {
    const malformed = fc
      .tuple(fc.stringMatching(/^[A-Za-z0-9]{0,5}$/), fc.constantFrom('%', '%Z', '%ZZ', '%G0', '%C0%AF', '%ED%A0%80', '%FF', '%E2%82', '%f0%9f%98', '%%'), fc.stringMatching(/^[A-Za-z0-9]{0,5}$/))
      .map((parts) => parts.join(''));
    const input = fc.record({
      route: fc.constantFrom(...ROUTES),
      segment: fc.oneof(malformed, fc.stringMatching(/^[A-Za-z0-9]{501,3000}$/)),
      auth: fc.boolean(),
    });
    await fuzz('bad-paths', 0.01, input, async ({ route, segment, auth }) => {
      // A '%' followed by two hex digits ("%6fV") is a valid encoding after all: not this property's case.
      if (isValidEncoding(segment)) return;
      const path = route[1].replace(':id', segment);
      const reply = await send(route[0], path, auth ? { authorization: `Bearer ${ADMIN_TOKEN}` } : {});
      expectAnswer(reply, [400, 401, 404, 414, 422], [path]);
    }, false);
  }, 600_000);

  // --- what was counted -----------------------------------------------------------------------

  it('counts every deposit answered 202 exactly once, and none that was refused', async () => {
    expect(accepted.length).toBeGreaterThan(0);
    expect(refused.length).toBeGreaterThan(0);
    expect((await acceptedTotal()) - acceptedBefore).toBe(deposits202);

    // Barrier: deposits made after every fuzz case, one per partition at least; once the views
    // show them, they show everything written before them on their partition.
    const barrier = await Promise.all(
      Array.from({ length: 24 }, async (_, i) => {
        const walletId = `fuzz-barrier-${i}`;
        const reply = await send('POST', '/deposit', { 'content-type': 'application/json' }, JSON.stringify({ wallet_id: walletId, amount: 1 }));
        expect(reply.status).toBe(202);
        return { walletId, token: JSON.parse(reply.text).token as string };
      }),
    );
    const partitions = new Set(barrier.map(({ token }) => Buffer.from(token, 'base64url').toString().split('.')[1]));
    expect(partitions.size).toBe(6);
    for (const { walletId, token } of barrier) expect((await send('GET', `/check/${walletId}?token=${token}&wait_ms=20000`)).status).toBe(200);

    const wrong: string[] = [];
    await inBatches(accepted, 8, async ({ walletId, minor, token }) => {
      const reply = await send('GET', `/check/${encodeURIComponent(walletId)}?token=${token}&wait_ms=20000`);
      const body = JSON.parse(reply.text);
      if (reply.status !== 200 || body.balance_minor !== minor.toString() || body.deposit_count !== 1) {
        wrong.push(`accepted ${walletId} ${minor}: ${reply.status} ${reply.text}`);
      }
    });
    await inBatches(refused, 8, async (walletId) => {
      const reply = await send('GET', `/check/${encodeURIComponent(walletId)}`);
      const body = JSON.parse(reply.text);
      if (reply.status !== 200 || body.balance_minor !== '0' || body.deposit_count !== 0) wrong.push(`refused ${walletId}: ${reply.text}`);
    });
    expect(wrong).toEqual([]);
  }, 300_000);

  it('logged no error while it was fuzzed, and still runs', async () => {
    expect(sut.process.lines(/"level":(?:50|60|"error"|"fatal")/)).toEqual([]);
    expect(sut.process.running).toBe(true);
  });

  /** Records what a deposit answer means for the final count. */
  function settle(reply: Reply, verdict: Verdict, uniqueId: string | undefined): void {
    if (reply.status === 202) {
      const body = JSON.parse(reply.text);
      expect(Object.keys(body).sort()).toEqual(['accepted_at', 'amount', 'deposit_id', 'token', 'wallet_id']);
      expect(body.wallet_id).toBe(verdict.walletId);
      // The amount as written in the response, digit for digit.
      expect(/"amount":([^,}]+)/.exec(reply.text)?.[1]).toBe(formatMinor(verdict.minor!));
      if (uniqueId !== undefined && verdict.walletId!.includes(uniqueId)) accepted.push({ walletId: verdict.walletId!, minor: verdict.minor!, token: body.token });
    } else if (uniqueId !== undefined && verdict.walletId !== undefined && verdict.walletId.includes(uniqueId)) {
      refused.push(verdict.walletId);
    }
  }
});

// --- oracles: what the SPEC says the answer must be -----------------------------------------------

interface Verdict {
  statuses: number[];
  /** The wallet a 202 must name (and count), when the body names a valid one. */
  walletId?: string;
  /** The amount a 202 must count, in minor units, when the body's amount is valid. */
  minor?: bigint;
}

/** `echoes`: what the client sent that a message may quote back (field names, the path). */
function expectErrorBody(reply: Reply, echoes: string[]): void {
  const context = `${reply.status} ${reply.text.slice(0, 300)}`;
  if (!/^application\/json\b/.test(String(reply.headers['content-type']))) throw new Error(`error body is not JSON: ${context}`);
  let body: unknown;
  try {
    body = JSON.parse(reply.text);
  } catch {
    throw new Error(`error body does not parse: ${context}`);
  }
  const keys = body !== null && typeof body === 'object' && !Array.isArray(body) ? Object.keys(body) : [];
  if (keys.length !== 1 || keys[0] !== 'error' || typeof (body as { error: unknown }).error !== 'string') {
    throw new Error(`error body is not exactly {"error": string}: ${context}`);
  }
  const message = (body as { error: string }).error;
  const own = echoes.filter((echo) => echo.length > 0).reduce((text, echo) => text.split(echo).join(''), message);
  if (message.length === 0 || LEAK.test(own)) throw new Error(`error message leaks internals or is empty: ${context}`);
}

/** The SPEC's amount rule, written out again: a finite number read by String(n), or a decimal string. */
function minorOf(value: unknown): bigint | undefined {
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return undefined;
    text = String(value);
  } else if (typeof value === 'string') {
    text = value;
  } else {
    return undefined;
  }
  const match = /^([0-9]+)(?:\.([0-9]{1,2}))?$/.exec(text);
  if (!match) return undefined;
  const minor = BigInt(match[1]) * 100n + BigInt((match[2] ?? '').padEnd(2, '0'));
  return minor > 0n && minor <= MAX_AMOUNT_MINOR ? minor : undefined;
}

function formatMinor(minor: bigint): string {
  const whole = minor / 100n;
  const cents = minor % 100n;
  return cents === 0n ? `${whole}` : `${whole}.${cents.toString().padStart(2, '0').replace(/0$/, '')}`;
}

function topLevelKeys(raw: string): string[] {
  try {
    const value: unknown = JSON.parse(raw.replace(/^\uFEFF/, ''));
    return value !== null && typeof value === 'object' ? Object.keys(value) : [];
  } catch {
    return [];
  }
}

function hasProtoKey(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return false;
  return Object.keys(value).some((key) => key === '__proto__' || key === 'constructor' || hasProtoKey((value as Record<string, unknown>)[key]));
}

/**
 * POST /deposit with a JSON content type: malformed JSON 400; a well-formed body that is not
 * exactly {wallet_id, amount} with valid values 422 (400 tolerated for prototype keys, which
 * the JSON parser refuses outright); a valid one 202. Where the SPEC is silent it allows both:
 * duplicate keys (202 with the last value, as JSON.parse reads them, or refused) and a leading
 * byte order mark (RFC 8259 lets a parser ignore it).
 */
function depositVerdict(raw: string, duplicates: boolean): Verdict {
  const bom = raw.startsWith('\uFEFF');
  let value: unknown;
  try {
    value = JSON.parse(bom ? raw.slice(1) : raw);
  } catch {
    return { statuses: [400] };
  }
  const refusal = hasProtoKey(value) ? [400, 422] : [422];
  const object = value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  const walletId = typeof object?.wallet_id === 'string' && WALLET_ID.test(object.wallet_id) ? object.wallet_id : undefined;
  const minor = object ? minorOf(object.amount) : undefined;
  const onlyKnown = object !== undefined && Object.keys(object).every((key) => key === 'wallet_id' || key === 'amount');
  const valid = onlyKnown && walletId !== undefined && minor !== undefined;
  let statuses = valid ? [202] : refusal;
  if (duplicates && valid) statuses = [202, 400, 422];
  if (bom) statuses = [...new Set([...statuses, 400])];
  return { statuses, walletId, minor };
}

/** Header values as the server sees them: optional whitespace around a field value is not part of it. */
const trimOws = (value: string) => value.replace(/^[ \t]+|[ \t]+$/g, '');

/** application/json (any case, any parameters) is JSON; a charset other than UTF-8 may be refused. */
function mediaVerdict(contentType: string | undefined): 'json' | 'json-odd-charset' | 'other' {
  if (contentType === undefined) return 'other';
  const [media, ...params] = trimOws(contentType).split(';');
  if (trimOws(media).toLowerCase() !== 'application/json') return 'other';
  const charset = params.map((param) => trimOws(param).toLowerCase()).find((param) => param.startsWith('charset='));
  if (charset === undefined || /^charset="?utf-?8"?$/.test(charset)) return 'json';
  return 'json-odd-charset';
}

const isCanonicalInt = (value: string) => /^(0|[1-9][0-9]{0,14})$/.test(value);

function decodeQueryValue(value: string): string | undefined {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/** Whether a token could be one this service issued: it says where an event landed. */
const looksIssued = (token: string) =>
  /^[A-Za-z0-9_-]{1,64}$/.test(token) && /^[df]\.[0-9]{1,5}\.[0-9]{1,16}$/.test(Buffer.from(token, 'base64url').toString());

const isNegative = (value: string) => /^-0*[1-9][0-9]*$/.test(value);

/** The decoded value of the (only) parameter `name`, undecoded when its escapes are malformed. */
function queryValue(params: Array<[string, string]>, name: string): string | undefined {
  const found = params.find(([key]) => decodeQueryValue(key) === name);
  return found ? (decodeQueryValue(found[1]) ?? found[1]) : undefined;
}

/**
 * GET /check/:id?… for a wallet that holds one visible deposit. Strict where the SPEC and the
 * README are: a token this service cannot have issued, wait_ms without a token, a negative
 * wait_ms or one above CHECK_MAX_WAIT_MS is 422; the visible token is 200, one past the end
 * waits and is 504. Lenient where they are silent: unknown or repeated parameters,
 * non-canonical numbers, and well-formed tokens of other events (visible or not).
 */
function checkQueryVerdict(params: Array<[string, string]>, visible: string, future: string): number[] {
  const names = params.map(([name]) => decodeQueryValue(name));
  if (names.some((name) => name !== 'token' && name !== 'wait_ms') || new Set(names).size !== names.length) return [200, 422, 504];
  const token = queryValue(params, 'token');
  const wait = queryValue(params, 'wait_ms');
  if (wait !== undefined && token === undefined) return [422];
  if (token === undefined) return [200];
  if (wait !== undefined && (isNegative(wait) || (isCanonicalInt(wait) && Number(wait) > CHECK_MAX_WAIT_MS))) return [422];
  if (!looksIssued(token)) return [422];
  const canonicalWait = wait === undefined || isCanonicalInt(wait);
  if (token === visible) return canonicalWait ? [200] : [200, 422];
  if (token === future) return canonicalWait ? [504] : [422, 504];
  return [200, 422, 504];
}

/** GET /wallets/:id/deposits?…: limit 1-100 (422 outside), a cursor this service issued or 422. */
function historyQueryVerdict(params: Array<[string, string]>): number[] {
  const names = params.map(([name]) => decodeQueryValue(name));
  if (names.some((name) => name !== 'limit' && name !== 'cursor') || new Set(names).size !== names.length) return [200, 422];
  const limit = queryValue(params, 'limit');
  const cursor = queryValue(params, 'cursor');
  if (limit !== undefined && (isNegative(limit) || (isCanonicalInt(limit) && (Number(limit) < 1 || Number(limit) > 100)))) return [422];
  if (cursor !== undefined && !/^[A-Za-z0-9_-]+$/.test(cursor)) return [422];
  const lenient = (limit !== undefined && !isCanonicalInt(limit)) || cursor !== undefined;
  return lenient ? [200, 422] : [200];
}

// --- generators -------------------------------------------------------------------------------

/** Placeholders a case's unique wallet id replaces: as is, or written with JSON \u escapes. */
const PLAIN_ID = '@W@';
const ESCAPED_ID = '@U@';

function materialise(raw: string, walletId: string): string {
  const escaped = [...walletId].map((char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');
  return raw.split(PLAIN_ID).join(walletId).split(ESCAPED_ID).join(escaped);
}

const walletChars = fc.stringMatching(/^[A-Za-z0-9._-]{0,130}$/);
const notWalletChars = fc.string({ unit: 'binary', minLength: 1, maxLength: 4 }).filter((text) => !/^[A-Za-z0-9._:-]*$/.test(text));

/** The raw JSON text of a wallet_id value: mostly this case's unique id, valid or spoiled. */
const walletValue: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: fc.constant(`"${PLAIN_ID}"`) },
  { weight: 2, arbitrary: fc.constant(`"${ESCAPED_ID}"`) },
  { weight: 3, arbitrary: fc.tuple(walletChars, fc.boolean()).map(([extra, before]) => JSON.stringify(before ? `${extra}${PLAIN_ID}` : `${PLAIN_ID}${extra}`)) },
  {
    weight: 3,
    arbitrary: fc.tuple(notWalletChars, fc.integer({ min: 0, max: 2 })).map(([bad, where]) =>
      JSON.stringify(where === 0 ? `${bad}${PLAIN_ID}` : where === 1 ? `${PLAIN_ID}${bad}` : `${PLAIN_ID.slice(0, 1)}${bad}${PLAIN_ID.slice(1)}`),
    ),
  },
  { weight: 1, arbitrary: fc.constantFrom('""', 'null', 'true', '0', '1', '[]', '{}', `["${PLAIN_ID}"]`, `{"id":"${PLAIN_ID}"}`, `" ${PLAIN_ID}"`, `"${PLAIN_ID}\\n"`) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }).filter((text) => !WALLET_ID.test(text)).map((text) => JSON.stringify(text)) },
);

const EDGE_NUMBERS = [
  '1', '0', '-0', '0.0', '-1', '1e308', '-1e308', '1e400', '5e-324', '1e-7', '1e21', '1E2', '1e+2', '0.1e1', '100.000', '10.10',
  '0.30000000000000004', '0.1', '0.01', '0.001', '1.005', '4000.01', '999999999999.99', '1000000000000', '1000000000000.00',
  '1000000000000.01', '1000000000001', '12345678901234567890', '9007199254740993', '00', '01', '+1', '.5', '1.', '0x10', 'NaN',
  'Infinity', '-Infinity', '1_000', '１',
];
const EDGE_STRINGS = [
  '1', '12.50', '2000', '0', '0.00', '0.01', '00.01', '007', '1.', '.5', '1.234', ' 1', '1 ', '+1', '-1', '1,000', '1,5', '1e3',
  '1E3', '0x10', 'NaN', 'Infinity', '', ' ', '١٢', '１２', '1\u00a0000', '12.5\u0000', '1000000000000', '1000000000000.00',
  '1000000000000.01', '99999999999999999999999999', '4000.01', '1.0', '1.10', '1.100',
];

/** The raw JSON text of an amount value: numbers and strings near and far from valid. */
const amountValue: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 1_000_000_000_000 }).map(String) },
  { weight: 3, arbitrary: fc.tuple(fc.integer({ min: 0, max: 1_000_000_000_000 }), fc.integer({ min: 0, max: 99 })).map(([whole, cents]) => `${whole}.${String(cents).padStart(2, '0')}`) },
  { weight: 3, arbitrary: fc.tuple(fc.integer({ min: 0, max: 10 ** 13 }), fc.integer({ min: 0, max: 99 })).map(([whole, cents]) => JSON.stringify(`${whole}.${String(cents).padStart(2, '0')}`)) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 1_000_000_000_000 }).map((n) => JSON.stringify(String(n))) },
  { weight: 3, arbitrary: fc.constantFrom(...EDGE_NUMBERS) },
  { weight: 3, arbitrary: fc.constantFrom(...EDGE_STRINGS).map((text) => JSON.stringify(text)) },
  { weight: 2, arbitrary: fc.double().map((n) => JSON.stringify(n)) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom('', '-', '+'), fc.stringMatching(/^[0-9]{1,16}$/), fc.option(fc.stringMatching(/^\.[0-9]{0,4}$/)), fc.option(fc.stringMatching(/^[eE][+-]?[0-9]{1,3}$/)))
      .map(([sign, digits, fraction, exponent]) => `${sign}${digits}${fraction ?? ''}${exponent ?? ''}`),
  },
  {
    weight: 2,
    arbitrary: fc.stringMatching(/^[ +-]?[0-9,]{0,14}([.,][0-9]{0,4})?([eE][+-]?[0-9]{1,3})? ?$/).map((text) => JSON.stringify(text)),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }).map((text) => JSON.stringify(text)) },
  { weight: 1, arbitrary: fc.constantFrom('null', 'true', 'false', '[]', '{}', '[1]', '{"value":1}', '"\\u0031"', '"1\\u002e5"', '["1"]') },
);

const leakFree = (text: string) => !LEAK.test(text);
const JSON_SPACE = fc.constantFrom('', '', '', ' ', '\n', '\t', '\r\n  ');
/** Names of Object.prototype's members: unknown fields so named are a separate, known failure. */
const PROTOTYPE_NAMES = Object.getOwnPropertyNames(Object.prototype).filter((name) => name !== '__proto__');
const extraKey = fc.oneof(
  fc.constantFrom('currency', 'Wallet_id', 'WALLET_ID', 'wallet_id ', ' amount', 'walletId', 'amount\u0000', '__proto__', '', 'deposit_id', 'valueOf '),
  fc.string({ unit: 'binary', maxLength: 12 }),
).filter((key) => key !== 'wallet_id' && key !== 'amount' && !PROTOTYPE_NAMES.includes(key) && leakFree(key));
const jsonValueText = fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value));

/** A deposit body as raw text: the two fields, maybe missing, repeated, escaped or joined by others. */
function depositBody(): fc.Arbitrary<{ raw: string; duplicates: boolean }> {
  return fc
    .record({
      wallet: fc.option(walletValue, { nil: undefined, freq: 12 }),
      amount: fc.option(amountValue, { nil: undefined, freq: 12 }),
      extras: fc.oneof({ weight: 6, arbitrary: fc.constant([] as Array<[string, string]>) }, { weight: 1, arbitrary: fc.array(fc.tuple(extraKey, jsonValueText), { minLength: 1, maxLength: 2 }) }),
      repeats: fc.oneof(
        { weight: 8, arbitrary: fc.constant([] as Array<[string, string]>) },
        { weight: 1, arbitrary: fc.array(fc.oneof(fc.tuple(fc.constant('wallet_id'), walletValue), fc.tuple(fc.constant('amount'), amountValue)), { minLength: 1, maxLength: 2 }) },
      ),
      escapeKeys: fc.boolean(),
      space: JSON_SPACE,
      spoil: fc.oneof(
        { weight: 20, arbitrary: fc.constant('none') },
        { weight: 1, arbitrary: fc.constantFrom('truncate', 'trailing-comma', 'garbage', 'bom', 'single-quotes', 'nbsp', 'wrap-array') },
      ),
      cut: fc.nat(),
    })
    .chain((body) => {
      const members: Array<[string, string]> = [];
      if (body.wallet !== undefined) members.push(['wallet_id', body.wallet]);
      if (body.amount !== undefined) members.push(['amount', body.amount]);
      members.push(...body.extras);
      return fc.shuffledSubarray(members, { minLength: members.length, maxLength: members.length }).map((ordered) => ({ ...body, ordered: [...ordered, ...body.repeats] }));
    })
    .map((body) => {
      const key = (name: string) => (body.escapeKeys && name === 'wallet_id' ? '"wallet\\u005fid"' : JSON.stringify(name));
      const s = body.space;
      let raw = `{${s}${body.ordered.map(([name, value]) => `${key(name)}${s}:${s}${value}`).join(`,${s}`)}${s}}`;
      switch (body.spoil) {
        case 'truncate':
          raw = raw.slice(0, body.cut % raw.length);
          break;
        case 'trailing-comma':
          raw = raw.replace(/\s*}$/, ',}');
          break;
        case 'garbage':
          raw = `${raw}x`;
          break;
        case 'bom':
          raw = `\uFEFF${raw}`;
          break;
        case 'single-quotes':
          raw = raw.replace(/"/g, "'");
          break;
        case 'nbsp':
          raw = `\u00a0${raw}`;
          break;
        case 'wrap-array':
          raw = `[${raw}]`;
          break;
      }
      const names = body.ordered.map(([name]) => name);
      return { raw, duplicates: new Set(names).size !== names.length };
    });
}

/** Any JSON value at all, and nesting within 600 levels (deeper is a separate case). */
function anyJsonBody(): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.jsonValue().map((value) => JSON.stringify(value)) },
    { weight: 2, arbitrary: fc.anything({ withNullPrototype: true, withObjectString: true }).map((value) => JSON.stringify(value) ?? 'undefined') },
    { weight: 2, arbitrary: nestedBody(1, 600) },
  );
}

/** A body with JSON nested `minLevels` to `maxLevels` deep: at the top, as a field's value, or as an unknown field. */
function nestedBody(minLevels: number, maxLevels: number): fc.Arbitrary<string> {
  return fc.tuple(fc.integer({ min: minLevels, max: maxLevels }), fc.constantFrom('array', 'object', 'mixed'), fc.constantFrom('top', 'amount', 'wallet_id', 'extra')).map(([levels, kind, where]) => {
    const depth = kind === 'mixed' ? Math.ceil(levels / 2) : levels;
    const open = kind === 'array' ? '[' : kind === 'object' ? '{"a":' : '[{"a":';
    const close = kind === 'array' ? ']' : kind === 'object' ? '}' : '}]';
    const nested = `${open.repeat(depth)}${kind === 'array' ? '' : '1'}${close.repeat(depth)}`;
    if (where === 'top') return nested;
    if (where === 'extra') return `{"wallet_id":"fuzz-deep","amount":1,"x":${nested}}`;
    return where === 'amount' ? `{"wallet_id":"fuzz-deep","amount":${nested}}` : `{"wallet_id":${nested},"amount":1}`;
  });
}

/** Header field values a client may send: tab, visible ASCII and obs-text (0x80-0xff), no controls. */
const headerValue = (maxLength: number) =>
  fc.string({ unit: 'binary-ascii', maxLength }).map((text) => text.replace(/[^\t\x20-\x7e\x80-\xff]/g, ''));

const CONTENT_TYPES = [
  'application/json', 'application/json; charset=utf-8', 'application/json;charset=UTF-8', 'APPLICATION/JSON', 'Application/Json',
  'application/json;', 'application/json ; x=y', 'application/json; charset="utf-8"', 'application/json; charset=utf-16',
  'application/json; charset=latin1', 'application/json; charset', 'application/json;;;', 'application/json\t', 'application/jsonx',
  'application/json5', 'application/json-patch+json', 'application/vnd.api+json', 'application/ld+json', 'application/*', '*/*',
  'application/ json', 'application /json', 'application/json, text/plain', 'text/json', 'text/plain', 'text/html',
  'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/octet-stream', ';', '', ' ', 'json',
];

function depositHeaders() {
  return fc.record({
    contentType: fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom<string | undefined>(...CONTENT_TYPES, undefined) },
      { weight: 1, arbitrary: headerValue(40) },
      { weight: 1, arbitrary: headerValue(40).map((text) => `application/json;${text}`) },
    ),
    key: fc.oneof(
      { weight: 3, arbitrary: fc.constant(undefined) },
      { weight: 4, arbitrary: fc.stringMatching(/^[\x21-\x7e]([\x20-\x7e]{0,126}[\x21-\x7e])?$/) },
      { weight: 3, arbitrary: headerValue(200) },
      { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 120, max: 7000 }), fc.constantFrom('k', ' ', '\xe9')).map(([length, char]) => `k${char.repeat(length)}`) },
    ),
    requestId: fc.option(fc.oneof(headerValue(80), fc.integer({ min: 60, max: 7000 }).map((length) => 'r'.repeat(length))), { nil: undefined, freq: 3 }),
    amount: fc.constantFrom<number | string>(1, '2.50', 0.01, 4000.01, '1000000000000'),
  });
}

const ROUTES: Array<[string, string]> = [
  ['GET', '/check/:id'],
  ['GET', '/wallets/:id/deposits'],
  ['PUT', '/admin/wallets/:id/flag'],
  ['DELETE', '/admin/wallets/:id/flag'],
];

/** Encodes every character a path segment cannot carry as is; hex digits in either case. */
function encodePathSegment(id: string, lowerHex: boolean): string {
  const encoded = encodeURIComponent(id).replace(/[!'()*]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`);
  return lowerHex ? encoded.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase()) : encoded;
}

function pathCase() {
  return fc
    .record({
      route: fc.constantFrom(...ROUTES),
      id: fc.oneof(
        { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
        { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
        { weight: 3, arbitrary: fc.stringMatching(/^[A-Za-z0-9._:-]{1,128}$/) },
        { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z0-9._:-]{129,140}$/) },
        { weight: 1, arbitrary: fc.constantFrom('.', '..', '...', ' ', '%', '%25', '/', '?', '#', '\u0000', '\u202e', 'a b', 'a/b', 'a?b', 'a#b', '0x1a35ab', 'ÄÖÜ', '😀') },
      ),
      lowerHex: fc.boolean(),
      auth: fc.constantFrom<'none' | 'bad' | 'good'>('none', 'bad', 'good', 'good'),
    })
    .map(({ route, id, lowerHex, auth }) => ({ method: route[0], route: route[1], id, auth, encoded: encodePathSegment(id, lowerHex) }))
    // Longer segments are refused by the router before the service sees them (a separate case).
    .filter(({ encoded }) => encoded.length <= 500);
}

function queryCase(visible: string, future: string) {
  const anyText = fc.oneof(fc.string({ unit: 'binary', maxLength: 30 }), fc.string({ unit: 'grapheme-ascii', maxLength: 30 }));
  const encoded = (arbitrary: fc.Arbitrary<string>) => arbitrary.map((text) => encodeURIComponent(text));
  const raw = fc.stringMatching(/^[A-Za-z0-9%._~!$'()*+,;:@/?-]{0,30}$/); // may hold malformed escapes
  const number = fc.oneof(
    fc.integer({ min: -10, max: 50 }).map(String),
    fc.integer({ min: CHECK_MAX_WAIT_MS - 2, max: CHECK_MAX_WAIT_MS + 2 }).map(String),
    fc.constantFrom('', ' ', '1e3', '0x10', '1.5', '-0', '00', '007', 'abc', '99999999999999999999', 'NaN', 'Infinity', '50,').map(encodeURIComponent),
    fc.constantFrom('%20', '1%00', '%', '%zz', '+1', '1+'),
  );
  const value = fc.oneof(encoded(anyText), raw, number);
  const token = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(visible, future) },
    { weight: 1, arbitrary: fc.constantFrom('ZC4wLjA', 'Zi4wLjA', 'ZC41LjA', 'ZC45OTk5OS4w', 'ZC4wLjk5OTk5OTk5OTk5OTk5OTk', 'ZC4tMS4w', `${visible}=`, `${visible}.`) },
    { weight: 2, arbitrary: value },
  );
  const checkParam = fc.oneof(
    fc.tuple(fc.constant('token'), token),
    fc.tuple(fc.constant('wait_ms'), fc.oneof(number, fc.integer({ min: 0, max: 50 }).map(String))),
    fc.tuple(fc.oneof(fc.constantFrom('token[]', 'token[a]', 'Token', 'wait', 'unknown', '__proto__', 'constructor', '', 'limit'), encoded(anyText)).filter(leakFree), value),
  );
  const historyParam = fc.oneof(
    fc.tuple(fc.constant('limit'), number),
    fc.tuple(fc.constant('cursor'), fc.oneof(value, fc.constantFrom('YzE', 'YzA', 'Yzk5OTk5OTk5OTk5OTk5', 'YzE5OTk5OTk5OTk5OTk5OQ', 'Yy0x', 'eDE'))),
    fc.tuple(fc.oneof(fc.constantFrom('limit[]', 'Limit', 'page', '__proto__', ''), encoded(anyText)).filter(leakFree), value),
  );
  return fc.oneof(
    fc.record({ route: fc.constant<'check' | 'history'>('check'), params: fc.array(checkParam, { maxLength: 3 }) }),
    fc.record({ route: fc.constant<'check' | 'history'>('history'), params: fc.array(historyParam, { maxLength: 3 }) }),
  ).map((input) => {
    // A token that is not visible yet only ever waits briefly: the case is the answer, not the wait.
    const params = input.params.map(([name, text]): [string, string] => {
      if (decodeQueryValue(name) !== 'wait_ms') return [name, text];
      const wait = Number(decodeQueryValue(text) ?? Number.NaN);
      return Number.isFinite(wait) && wait > 100 && wait <= CHECK_MAX_WAIT_MS ? [name, '50'] : [name, text];
    });
    const waits = params.some(([name, text]) => decodeQueryValue(name) === 'token' && decodeQueryValue(text) !== visible);
    const bounded = params.some(([name]) => decodeQueryValue(name) === 'wait_ms');
    return { ...input, params: waits && !bounded ? [...params, ['wait_ms', '20'] as [string, string]] : params };
  });
}

async function inBatches<T>(items: T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await work(items[next++]);
    }),
  );
}
