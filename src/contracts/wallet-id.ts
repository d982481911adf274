/** A wallet id: 1–128 characters of [A-Za-z0-9._:-], case-sensitive, stored as given (SPEC §1). */
const WALLET_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

export const WALLET_ID_RULE = 'wallet_id must be 1-128 characters of A-Z a-z 0-9 . _ : -';

export function isWalletId(value: unknown): value is string {
  return typeof value === 'string' && WALLET_ID_PATTERN.test(value);
}
