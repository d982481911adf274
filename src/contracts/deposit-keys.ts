/**
 * Keys of the balance group's history and of the stores of Idempotency-Keys (the balance's and the
 * threshold's). A wallet id never contains '/', so a wallet's
 * keys share the prefix "<wallet>/" and nothing else does.
 */

// Fixed width, so that LevelDB's byte order is the numeric order of seq.
const SEQ_DIGITS = 15;

/** The history entry of the wallet's seq-th counted deposit. */
export const historyKey = (walletId: string, seq: bigint) => `${walletId}/h/${seq.toString().padStart(SEQ_DIGITS, '0')}`;

/** The prefix of all history entries of a wallet. */
export const historyPrefix = (walletId: string) => `${walletId}/h/`;

/** The seq of a history key. */
export const seqOfHistoryKey = (key: string) => BigInt(key.slice(key.lastIndexOf('/') + 1));

/** Where a deposit sent with an Idempotency-Key is found by its id. */
export const idempotencyKey = (walletId: string, depositId: string) => `${walletId}/k/${depositId}`;
