import { rmSync } from 'node:fs';
import { once } from 'node:events';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventually, uniquePrefix } from './support/kafka.js';
import { Service, scratchDir } from './support/service.js';

/** What one client request of the load saw. */
interface Outcome {
  walletId: string;
  key: string;
  startedAt: number;
  endedAt: number;
  status?: number;
  body?: any;
  /** The socket error when there was no answer: ECONNREFUSED (never accepted), ECONNRESET (dropped)… */
  error?: string;
}

interface LoadRun {
  outcomes: Outcome[];
  signalAt: number;
  exit: { code: number | null; signal: NodeJS.Signals | null };
  exitedAt: number;
}

const AMOUNT = '12.25';
const AMOUNT_MINOR = '1225';
const COLD_RESTORE = /restoring \d+ changelog records \(cold\)/;
const ANY_RESTORE = /restoring \d+ changelog records/;

/** POSTs one deposit on a connection of its own, and says what came back. */
function depositOnce(port: number, walletId: string, key: string): Promise<Outcome> {
  const startedAt = Date.now();
  return new Promise((resolve) => {
    const done = (result: Partial<Outcome>) => resolve({ walletId, key, startedAt, endedAt: Date.now(), ...result });
    const outgoing = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/deposit',
        agent: false,
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
      },
      (response) => {
        let text = '';
        response.on('data', (chunk) => (text += chunk));
        response.on('end', () => {
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // kept as text
          }
          done({ status: response.statusCode, body });
        });
        response.on('error', (error: NodeJS.ErrnoException) => done({ error: error.code ?? error.message }));
      },
    );
    outgoing.on('error', (error: NodeJS.ErrnoException) => done({ error: error.code ?? error.message }));
    outgoing.end(JSON.stringify({ wallet_id: walletId, amount: AMOUNT }));
  });
}

/**
 * Puts `workers` concurrent clients on the service (a new connection per deposit), sends
 * `signal` once `before` deposits were answered, and keeps the clients going until the
 * process has exited.
 */
async function loadAndSignal(sut: Service, signal: NodeJS.Signals, name: string, workers = 24, before = 300): Promise<LoadRun> {
  const outcomes: Outcome[] = [];
  let signalAt = 0;
  let sequence = 0;
  let exitedAt = 0;
  const exited = sut.process.exited.then((exit) => {
    exitedAt = Date.now();
    return exit;
  });
  const worker = async () => {
    for (;;) {
      const walletId = `${name}-${++sequence}`;
      const outcome = await depositOnce(sut.port, walletId, `key-${walletId}`);
      outcomes.push(outcome);
      if (signalAt === 0 && outcomes.filter((each) => each.status !== undefined).length >= before) {
        signalAt = Date.now();
        process.kill(sut.process.pid, signal);
      }
      if (exitedAt !== 0) return;
      // Refused: the service stopped listening; keep knocking (lightly) until it is gone.
      if (outcome.error === 'ECONNREFUSED') await sleep(10);
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
  const exit = await exited;
  return { outcomes, signalAt, exit, exitedAt };
}

const summary = (outcomes: Outcome[]) =>
  outcomes.reduce<Record<string, number>>((counts, outcome) => {
    const label = outcome.error ?? String(outcome.status);
    counts[label] = (counts[label] ?? 0) + 1;
    return counts;
  }, {});

/**
 * SIGTERM and SIGINT stop the service gracefully under load: requests in flight are answered,
 * new connections are refused, the process exits 0 within 10 s, and the next start is warm and
 * counts every deposit that was answered 202 (and, after the client retried with its
 * Idempotency-Key, every other one) exactly once.
 */
describe('graceful shutdown', () => {
  const data = scratchDir('shutdown');
  const spec = {
    entry: 'main' as const,
    topicPrefix: uniquePrefix('shutdown'),
    dataDir: join(data, 'svc'),
    // Info level: the restore lines ("restoring … (warm|cold)") are what the restart is judged by.
    env: { LOG_LEVEL: 'info' },
  };
  const started: Service[] = [];
  const start = async (name: string) => {
    const service = started.length === 0 ? await Service.start(name, spec) : await started[0].restart(name);
    started.push(service);
    return service;
  };

  afterAll(async () => {
    await Promise.all(started.map((service) => service.stop('SIGKILL')));
    rmSync(data, { recursive: true, force: true });
  });

  /** Every deposit of the run is counted once: those answered 202 as they are, the others once retried. */
  async function expectEveryDepositCountedOnce(sut: Service, run: LoadRun): Promise<void> {
    const wrong: string[] = [];
    const answered = run.outcomes.filter((outcome) => outcome.status === 202);
    // Refused connections never reached the service: nothing to count, nothing to retry.
    const unanswered = run.outcomes.filter((outcome) => outcome.status !== 202 && outcome.error !== 'ECONNREFUSED');
    // The views are ready: they hold every record written before the stop.
    for (const outcome of unanswered) {
      const before = (await sut.check(outcome.walletId)).body;
      // A request refused with a status changed nothing; one whose connection was dropped may or
      // may not have been taken: its client cannot know, so it retries.
      const mayBeCounted = outcome.error !== undefined;
      if (!mayBeCounted && before.balance_minor !== '0') wrong.push(`${outcome.walletId} (${outcome.error ?? outcome.status}) counted before its retry`);
    }
    const retried = [];
    for (const outcome of unanswered) {
      const retry = await sut.deposit(outcome.walletId, AMOUNT, { 'Idempotency-Key': outcome.key });
      if (retry.status !== 202) wrong.push(`retry of ${outcome.walletId}: ${retry.status} ${JSON.stringify(retry.body)}`);
      else retried.push({ walletId: outcome.walletId, token: retry.body.token as string });
    }
    const tokens = [...answered.map((outcome) => ({ walletId: outcome.walletId, token: outcome.body.token as string })), ...retried];
    for (const { walletId, token } of tokens) {
      const check = await sut.check(walletId, `?token=${token}&wait_ms=20000`);
      if (check.status !== 200 || check.body.balance_minor !== AMOUNT_MINOR || check.body.deposit_count !== 1) {
        wrong.push(`${walletId}: ${check.status} ${JSON.stringify(check.body)}`);
      }
    }
    expect(wrong).toEqual([]);
    expect(tokens.length).toBe(answered.length + unanswered.length);
  }

  function expectGracefulStop(sut: Service, run: LoadRun, signal: NodeJS.Signals, before: number): void {
    const refused = run.outcomes.filter((outcome) => outcome.error === 'ECONNREFUSED');
    const firstRefusalAt = Math.min(...refused.map((outcome) => outcome.endedAt));
    const inFlight = run.outcomes.filter((outcome) => outcome.startedAt < run.signalAt && outcome.endedAt >= run.signalAt);

    // Under load when the signal came, with requests in flight.
    expect(run.outcomes.filter((outcome) => outcome.status === 202).length).toBeGreaterThanOrEqual(before - 50);
    expect(inFlight.length).toBeGreaterThan(0);
    // It stopped on its own, in time (its grace period is 10 s, after which it exits with 1).
    expect(run.exit).toEqual({ code: 0, signal: null });
    expect(sut.process.lines(new RegExp(`${signal}: stopping`))).toHaveLength(1);
    expect(sut.process.lines(/not stopped after/)).toEqual([]);
    // New connections are refused once it stops listening, which it does before it exits...
    expect(refused.length).toBeGreaterThan(0);
    expect(firstRefusalAt).toBeLessThan(run.exitedAt);
    // ...and from then on, every one is refused: nothing is taken in after that.
    const afterRefusal = run.outcomes.filter((outcome) => outcome.startedAt > firstRefusalAt);
    expect(afterRefusal.filter((outcome) => outcome.startedAt < run.exitedAt).length).toBeGreaterThan(0);
    expect(summary(afterRefusal)).toEqual({ ECONNREFUSED: afterRefusal.length });
    // Every answer is a 202 or a 503: a deposit taken, or one to retry.
    const answers = run.outcomes.filter((outcome) => outcome.status !== undefined);
    expect(answers.filter((outcome) => outcome.status !== 202 && outcome.status !== 503)).toEqual([]);
  }

  function expectNothingDropped(run: LoadRun): void {
    // A request sent before the signal is answered (the service still takes connections for a
    // moment after it, answering them 503). A connection still in its TCP handshake when the
    // service then closes its listening socket is reset by the kernel rather than refused: the
    // service never read it, and nothing was taken.
    const dropped = run.outcomes.filter((outcome) => outcome.error !== undefined && outcome.startedAt < run.signalAt);
    const unavailable = run.outcomes.filter((outcome) => outcome.status === 503);

    if (dropped.length > 0) process.stdout.write(`\ndropped (error, ms from the signal to start and end): ${JSON.stringify(dropped.map((o) => [o.error, o.startedAt - run.signalAt, o.endedAt - run.signalAt]))}\n`);
    expect(summary(dropped)).toEqual({});
    expect(run.outcomes.filter((outcome) => outcome.error !== undefined && !['ECONNREFUSED', 'ECONNRESET'].includes(outcome.error))).toEqual([]);
    expect(unavailable.filter((outcome) => JSON.stringify(Object.keys(outcome.body ?? {})) !== '["error"]').map((outcome) => outcome.body)).toEqual([]);
  }

  describe('SIGTERM under load', () => {
    let first: Service;
    let run: LoadRun;
    let second: Service;

    beforeAll(async () => {
      first = await start('service');
      run = await loadAndSignal(first, 'SIGTERM', 'term');
      process.stdout.write(`\nSIGTERM under load: ${JSON.stringify(summary(run.outcomes))}; exit ${JSON.stringify(run.exit)} ${run.exitedAt - run.signalAt} ms after the signal\n`);
      second = await start('after SIGTERM');
    }, 180_000);

    it('answers the requests in flight, refuses new connections, and exits 0 within 10 s', () => {
      expectGracefulStop(first, run, 'SIGTERM', 300);
    });

    it('answers every request sent before the signal, and a 503 is {"error"} like every error', () => {
      expectNothingDropped(run);
    });

    it('starts warm afterwards: no group restores its store from the beginning of its changelog', () => {
      expect(second.process.lines(COLD_RESTORE)).toEqual([]);
    });

    it('counts every deposit answered 202, and every other one once its client retried with its key', async () => {
      await expectEveryDepositCountedOnce(second, run);
    }, 120_000);

    // After the count: by then every partition has been caught up and has processed.
    it('read nothing of its changelogs on the way up: each store had stopped at their ends, past the commit markers', () => {
      expect(second.process.lines(ANY_RESTORE)).toEqual([]);
    });
  });

  describe('SIGINT under load', () => {
    let first: Service;
    let run: LoadRun;
    let second: Service;

    beforeAll(async () => {
      first = started.at(-1) ?? (await start('service'));
      run = await loadAndSignal(first, 'SIGINT', 'int', 16, 200);
      process.stdout.write(`\nSIGINT under load: ${JSON.stringify(summary(run.outcomes))}; exit ${JSON.stringify(run.exit)} ${run.exitedAt - run.signalAt} ms after the signal\n`);
      second = await start('after SIGINT');
    }, 180_000);

    it('answers the requests in flight, refuses new connections, and exits 0 within 10 s', () => {
      expectGracefulStop(first, run, 'SIGINT', 200);
    });

    it('answers every request sent before the signal, and a 503 is {"error"} like every error', () => {
      expectNothingDropped(run);
    });

    it('starts warm afterwards, and counts every deposit once', async () => {
      expect(second.process.lines(COLD_RESTORE)).toEqual([]);
      await expectEveryDepositCountedOnce(second, run);
    }, 120_000);

    it('would show a cold restore in the same log had the local stores been lost (the check above can fail)', async () => {
      await second.stop('SIGKILL');
      rmSync(spec.dataDir, { recursive: true, force: true });
      const third = await start('after losing its data');

      await eventually('a cold restore line', () => third.process.lines(COLD_RESTORE).length > 0, 30_000);
      expect((await third.check(run.outcomes[0].walletId)).body.balance_minor).toBe(AMOUNT_MINOR);
    }, 120_000);
  });

  describe('SIGTERM with idle connections open: one that has not sent a request yet (a browser\'s preconnect), one kept alive after its answer (a pooled client socket, kept 72 s)', () => {
    it('still stops within 10 s, with exit code 0', async () => {
      const sut = await Service.start('with idle connections', { ...spec, topicPrefix: uniquePrefix('shutdown-idle'), dataDir: join(data, 'idle') });
      started.push(sut);
      const fresh = connect(sut.port, '127.0.0.1');
      const keptAlive = connect(sut.port, '127.0.0.1');
      await Promise.all([once(fresh, 'connect'), once(keptAlive, 'connect')]);
      keptAlive.write('GET /health/live HTTP/1.1\r\nHost: depositaja\r\n\r\n');
      const [answer] = (await once(keptAlive, 'data')) as [Buffer];
      expect(answer.toString()).toContain('Keep-Alive: timeout=72');
      try {
        const exit = await sut.stop('SIGTERM');

        expect(sut.process.lines(/not stopped after/)).toEqual([]);
        expect(exit).toEqual({ code: 0, signal: null });
      } finally {
        fresh.destroy();
        keptAlive.destroy();
      }
    }, 60_000);
  });
});
