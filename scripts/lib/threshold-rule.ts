/**
 * The threshold rule of SPEC §2, recomputed from a wallet's deposits for the checks of the chaos
 * run and the bench: some window (t − W, t] of the deposits' event times sums to more than the
 * threshold. Independent of the service's sliding window on purpose.
 */
export function exceedsInSomeWindow(
  deposits: ReadonlyArray<{ acceptedAtMs: number; amountMinor: bigint }>,
  thresholdMinor: bigint,
  windowMs: number,
): boolean {
  const sorted = [...deposits].sort((a, b) => a.acceptedAtMs - b.acceptedAtMs);
  let first = 0;
  let sum = 0n;
  for (const deposit of sorted) {
    sum += deposit.amountMinor;
    while (sorted[first].acceptedAtMs <= deposit.acceptedAtMs - windowMs) sum -= sorted[first++].amountMinor;
    if (sum > thresholdMinor) return true;
  }
  return false;
}
