import { create } from '@bufbuild/protobuf';
import { type FlagEvent, FlagEventSchema, FlagSource } from '../gen/depositaja/v1/flag_pb.js';
import { PoisonRecordError } from '../streams/index.js';
import { isWalletId } from './wallet-id.js';

/** A manual flag or unflag, as the admin API and the CLI emit it. */
export function manualFlagEvent(walletId: string, flagged: boolean, atMs: number, reason = ''): FlagEvent {
  return create(FlagEventSchema, { walletId, flagged, source: FlagSource.MANUAL, atMs: BigInt(atMs), reason });
}

/** Checks a flag event read from Kafka before it touches any state; an invalid one is poison. */
export function checkFlagEvent(event: FlagEvent, key: string): void {
  if (!isWalletId(event.walletId)) throw new PoisonRecordError('flag event has no valid wallet_id');
  if (event.walletId !== key) throw new PoisonRecordError(`flag event of wallet ${event.walletId} under key ${key}`);
  if (event.source !== FlagSource.AUTO && event.source !== FlagSource.MANUAL) throw new PoisonRecordError('flag event has no source');
  if (event.atMs <= 0n) throw new PoisonRecordError('flag event has no at_ms');
  if (event.source === FlagSource.AUTO && (!event.flagged || event.causeOffset === undefined)) {
    throw new PoisonRecordError('an auto flag event sets the flag and names its cause');
  }
}
