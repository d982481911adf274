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

describe(depositIdFor.name, () => {
  // Pinned: a retry sent before an upgrade and again after it must carry the same deposit id and
  // digest, or it would be counted twice or refused as another request.
  it('derives the same id from the same wallet and Idempotency-Key in every release', () => {
    expect(depositIdFor('w-1', 'key-1')).toBe('0d146cc6-2adf-8ead-84f4-b4f6e9a3788b');
    expect(depositIdFor('wället', 'ключ-🙂')).toBe('908242fa-4d00-8fbf-af4b-c28b7470cd4a');
    expect(Buffer.from(requestDigest('w-1', 1234n)).toString('hex')).toBe('8af8ae31eddd7ca4ad28ec7cb6b60766fe37b2cb11f6cdebbc2a81ca8423d37d');
  });

  it('makes a fresh random id without a key', () => {
    expect(depositIdFor('w-1')).not.toBe(depositIdFor('w-1'));
  });
});
