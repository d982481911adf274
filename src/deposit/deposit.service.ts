import { Injectable, type OnModuleInit } from '@nestjs/common';
import { newDeposit } from '../contracts/deposit-event.js';
import { idempotencyKey } from '../contracts/deposit-keys.js';
import { encodeReadToken } from '../contracts/read-token.js';
import { topics } from '../contracts/topic-map.js';
import type { DepositRecord } from '../gen/depositaja/v1/balance_pb.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { EmitError, Emitter, InjectView, type View } from '../streams/index.js';

/** A deposit Kafka has acknowledged, as the client is told. */
export interface AcceptedDeposit {
  depositId: string;
  walletId: string;
  amountMinor: bigint;
  acceptedAtMs: bigint;
  token: string;
  /** True when this answers a retry of a request already accepted. */
  replayed: boolean;
}

/** The Idempotency-Key was used before with another body. */
export class IdempotencyConflictError extends Error {}

/** Kafka did not take the deposit; `outcomeUnknown` when it may have, after all. */
export class DepositUnavailableError extends Error {
  constructor(
    message: string,
    readonly outcomeUnknown: boolean,
  ) {
    super(message);
  }
}

// Answers to keyed requests stay here a while after Kafka acknowledged them, so that a quick
// retry is answered before the views include the deposit.
const RECENT_MS = 60_000;
const RECENT_MAX = 100_000;

interface Pending {
  digest: Uint8Array;
  answer: Promise<AcceptedDeposit>;
  settledAt?: number;
}

/**
 * Accepts deposits: builds the event, emits it (acks=all) and answers once Kafka has it.
 * With an Idempotency-Key, a retry gets the original answer and is counted once: from the
 * views when the deposit is already counted, from memory while it is in flight here, and in
 * any case by the balance processor, which counts a deposit id once. A retry that finds neither
 * (another instance, before its views hold the first attempt) is emitted and answered anew; the
 * balance processor still counts the first attempt only (README, Semantics).
 */
@Injectable()
export class DepositService implements OnModuleInit {
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly emitter: Emitter,
    @InjectView(topics.balanceDeposits) private readonly deposits: View<DepositRecord>,
    private readonly metrics: MetricsService,
  ) {}

  onModuleInit(): void {
    // The first deposit should not wait for Kafka's producer to connect.
    this.emitter.prepare();
  }

  async accept(walletId: string, amountMinor: bigint, key?: string): Promise<AcceptedDeposit> {
    const deposit = newDeposit(walletId, amountMinor, Date.now(), key);
    if (!key) return this.emit(deposit);

    const counted = this.deposits.get(idempotencyKey(walletId, deposit.depositId));
    if (counted) return this.replay(walletId, counted, deposit.requestDigest);
    const earlier = this.pending.get(deposit.depositId);
    if (earlier) {
      if (!sameBytes(earlier.digest, deposit.requestDigest)) throw conflict();
      return { ...(await earlier.answer), replayed: true };
    }
    const answer = this.emit(deposit);
    const entry: Pending = { digest: deposit.requestDigest, answer };
    this.pending.set(deposit.depositId, entry);
    answer.then(
      () => {
        entry.settledAt = Date.now();
        this.prune();
      },
      () => this.pending.delete(deposit.depositId),
    );
    return answer;
  }

  private async emit(deposit: ReturnType<typeof newDeposit>): Promise<AcceptedDeposit> {
    const started = process.hrtime.bigint();
    try {
      const delivery = await this.emitter.emit(topics.deposit, deposit.walletId, deposit);
      this.metrics.produceLatency.observe(Number(process.hrtime.bigint() - started) / 1e9);
      this.metrics.depositsAccepted.inc();
      return {
        depositId: deposit.depositId,
        walletId: deposit.walletId,
        amountMinor: deposit.amountMinor,
        acceptedAtMs: deposit.acceptedAtMs,
        token: encodeReadToken({ kind: 'deposit', partition: delivery.partition, offset: delivery.offset }),
        replayed: false,
      };
    } catch (error) {
      if (!(error instanceof EmitError)) throw error;
      throw error.notSent
        ? new DepositUnavailableError('Kafka is unavailable; the deposit was not recorded: retry later', false)
        : new DepositUnavailableError(
            'Kafka did not confirm the deposit in time; it may or may not be recorded: retry with the same Idempotency-Key to have it counted once',
            true,
          );
    }
  }

  private replay(walletId: string, counted: DepositRecord, digest: Uint8Array): AcceptedDeposit {
    if (!sameBytes(counted.requestDigest, digest)) throw conflict();
    return {
      depositId: counted.depositId,
      walletId,
      amountMinor: counted.amountMinor,
      acceptedAtMs: counted.acceptedAtMs,
      token: encodeReadToken({ kind: 'deposit', partition: this.emitter.partitionOf(topics.deposit, walletId), offset: Number(counted.offset) }),
      replayed: true,
    };
  }

  private prune(): void {
    const now = Date.now();
    for (const [id, entry] of this.pending) {
      if (this.pending.size <= RECENT_MAX && (entry.settledAt === undefined || now - entry.settledAt < RECENT_MS)) break;
      if (entry.settledAt !== undefined) this.pending.delete(id);
    }
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

const conflict = () => new IdempotencyConflictError('this Idempotency-Key was used with a different request body');
