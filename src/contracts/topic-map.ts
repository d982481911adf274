import { BalanceStateSchema, DepositRecordSchema } from '../gen/depositaja/v1/balance_pb.js';
import { DepositSchema } from '../gen/depositaja/v1/deposit_pb.js';
import { FlagEventSchema, FlagValueSchema } from '../gen/depositaja/v1/flag_pb.js';
import { WindowEntrySchema, WindowStateSchema } from '../gen/depositaja/v1/threshold_pb.js';
import { streamTopic, tableTopic } from '../streams/index.js';

/**
 * Every topic of the service and the protobuf schema of its values, in one place (SPEC §3).
 * Emitting and handling are type-checked against it.
 */
export const topics = {
  /** Accepted deposits, keyed by wallet id; emitted by the API. */
  deposit: streamTopic('deposit', DepositSchema),
  /** Flag and unflag events, keyed by wallet id: the threshold processor, admins, the CLI. */
  flagWallet: streamTopic('flag_wallet', FlagEventSchema),
  /** Group balance: wallet id → balance, deposit count, last deposit time. */
  balanceTable: tableTopic('balance-table', BalanceStateSchema),
  /**
   * Group balance, published for the API: "<wallet>/h/<seq>" → a counted deposit (history);
   * "<wallet>/k/<deposit id>" → the same, for deposits that came with an Idempotency-Key.
   */
  balanceDeposits: tableTopic('balance-deposits-table', DepositRecordSchema, { writeOnce: true }),
  /** Group balance, read back by it: "<wallet>/k/<deposit id>" → a counted deposit that came with an Idempotency-Key. */
  balanceKeys: tableTopic('balance-keys-table', DepositRecordSchema),
  /** Group threshold: wallet id → the deposits of its current window, and whether it is flagged. */
  thresholdTable: tableTopic('threshold-table', WindowStateSchema),
  /** Group threshold, read back by it: "<wallet>/k/<deposit id>" → a counted deposit that came with an Idempotency-Key. */
  thresholdKeys: tableTopic('threshold-keys-table', WindowEntrySchema),
  /** Group flagger: wallet id → flag, its source and time. */
  flaggerTable: tableTopic('flagger-table', FlagValueSchema),
};
