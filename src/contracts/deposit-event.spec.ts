import { create } from '@bufbuild/protobuf';
import { DepositSchema } from '../gen/depositaja/v1/deposit_pb.js';
import { topics } from './topic-map.js';
import { depositIdFor, newDeposit, requestDigest } from './deposit-event.js';

describe(newDeposit.name, () => {
  it('makes the message protobuf-es makes of the same fields, and the same bytes', () => {
    for (const key of [undefined, 'retry-7']) {
      const made = newDeposit('w-1', 1234n, 1_796_000_000_000, key);
      const expected = create(DepositSchema, {
        depositId: key ? depositIdFor('w-1', key) : made.depositId,
        walletId: 'w-1',
        amountMinor: 1234n,
        acceptedAtMs: 1_796_000_000_000n,
        idempotencyKey: key ?? '',
        requestDigest: key ? requestDigest('w-1', 1234n) : new Uint8Array(),
      });

      expect(made).toStrictEqual(expected);
      expect(Buffer.from(topics.deposit.codec.encode(made))).toEqual(Buffer.from(topics.deposit.codec.encode(expected)));
    }
  });
});
