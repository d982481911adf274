/** HTTP load: autocannon for closed-loop runs, a paced keep-alive client for open-loop ones. */
import { Agent, request } from 'node:http';
import autocannon from 'autocannon';
import { percentile } from './results';

export interface LoadResult {
  requestsPerSecond: number;
  /** 2xx answers per second. */
  okPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  ok: number;
  /** Non-2xx answers, connection errors and timeouts. */
  failed: number;
  /** Of which: requests without an answer within the client's 10 s. */
  timeouts: number;
  /** Of which: answers other than 2xx. */
  non2xx: number;
  statuses: Record<string, number>;
  /**
   * The same answers split by when their request was sent. autocannon opens every connection
   * at once and sends each one's first request before the connection is up, timed from before
   * its loop that creates the clients (~0.45 s for 2,000 on this machine), so a first request's
   * latency holds the load generator's own setup and the connection's; every later request is
   * timed from its write on an open connection, as a long-lived client sees it.
   */
  established: { p50Ms: number; p99Ms: number };
  firstRequests: { count: number; p50Ms: number; p99Ms: number };
}

export interface LoadOptions<Context> {
  url: string;
  connections: number;
  durationSeconds: number;
  method: 'GET' | 'POST';
  /** The request to send: path, body and headers of its own; its context is handed to `onResponse` with the answer. */
  next: () => { path: string; body?: string; headers?: Record<string, string>; context: Context };
  onResponse?: (status: number, body: string, context: Context) => void;
}

/** A closed-loop run: `connections` connections, each sending its next request when answered. */
export async function closedLoop<Context>(options: LoadOptions<Context>): Promise<LoadResult> {
  type Slot = { context?: Context; sentAt: number; first: boolean };
  let setups = 0;
  const established: number[] = [];
  const firsts: number[] = [];
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.durationSeconds,
    timeout: 10,
    requests: [
      {
        method: options.method,
        headers: options.method === 'POST' ? { 'content-type': 'application/json' } : {},
        setupRequest: (req, context) => {
          const { path, body, headers, context: mine } = options.next();
          const slot = context as Slot;
          slot.context = mine;
          // The first request of each connection is set up while autocannon creates its clients.
          slot.first = ++setups <= options.connections;
          slot.sentAt = performance.now();
          return { ...req, path, ...(body !== undefined ? { body } : {}), ...(headers ? { headers: { ...req.headers, ...headers } } : {}) };
        },
        onResponse: (status: number, body: string, context: object) => {
          const slot = context as Slot;
          (slot.first ? firsts : established).push(performance.now() - slot.sentAt);
          options.onResponse?.(status, body, slot.context!);
        },
      },
    ],
  });
  const statuses: Record<string, number> = {};
  for (const [status, { count }] of Object.entries(result.statusCodeStats ?? {})) statuses[status] = count ?? 0;
  return {
    requestsPerSecond: result.requests.total / result.duration,
    okPerSecond: result['2xx'] / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    ok: result['2xx'],
    failed: result.non2xx + result.errors + result.timeouts,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    statuses,
    // In whole ms, as autocannon gives its own.
    established: { p50Ms: Math.round(percentile(established, 50)), p99Ms: Math.round(percentile(established, 99)) },
    firstRequests: { count: firsts.length, p50Ms: Math.round(percentile(firsts, 50)), p99Ms: Math.round(percentile(firsts, 99)) },
  };
}

/** A keep-alive HTTP client for paced (open-loop) requests. */
export class HttpClient {
  // A pool as real clients keep. Without a limit, a stall of a few hundred ms (a cold start)
  // makes the client open thousands of connections at once; the kernel's accept queue
  // overflows and connections wait out SYN retransmits (1 s, 3 s, 7 s): that measures TCP, not
  // the service. 2,048 leaves room for B8's checks, each holding a socket while it waits for
  // its deposit, and fits in the service's accept queue (4,096). Latencies are taken from the
  // moment a request is due, so time spent waiting for a free socket still counts.
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 2048 });
  private readonly host: string;
  private readonly port: number;

  constructor(url: string) {
    const parsed = new URL(url);
    this.host = parsed.hostname;
    this.port = Number(parsed.port);
  }

  send(method: 'GET' | 'POST', path: string, body?: string, timeoutMs = 15_000): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: this.host,
          port: this.port,
          method,
          path,
          agent: this.agent,
          headers: body !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {},
          timeout: timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Decimal text of minor units, as a client would send an amount ("12.05"). */
const decimal = (minor: number) => `${Math.floor(minor / 100)}.${String(minor % 100).padStart(2, '0')}`;

/** A POST /deposit body, as a client sends it: the amount as decimal text. */
export const depositBody = (walletId: string, amountMinor: number) => `{"wallet_id":"${walletId}","amount":"${decimal(amountMinor)}"}`;
