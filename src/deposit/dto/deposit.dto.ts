import { ApiProperty } from '@nestjs/swagger';
import { WALLET_ID_RULE, isWalletId } from '../../contracts/wallet-id.js';
import { refuseIfAny, unknownFields } from '../../http/validation.js';
import { InvalidAmountError, parseAmount } from '../../money/money.js';

export class DepositRequestDto {
  @ApiProperty({ description: 'The wallet: 1-128 characters of A-Z a-z 0-9 . _ : -, case-sensitive', example: '0x1a35ab' })
  wallet_id!: string;

  @ApiProperty({
    oneOf: [{ type: 'number' }, { type: 'string', pattern: '^\\d+(\\.\\d{1,2})?$' }],
    description: 'Greater than 0, at most 2 decimal places, at most 1000000000000. A JSON number (read by its shortest decimal form) or a decimal string.',
    example: 2000,
  })
  amount!: number | string;

  /** `amount` in minor units, exact: parsed once, here (not a field of the body). */
  amountMinor!: bigint;

  /** Checks a request body (see SelfParsing): every problem at once, unknown fields first. */
  static parse(body: Record<string, unknown>): DepositRequestDto {
    const problems = unknownFields(body, ['wallet_id', 'amount']);
    if (!isWalletId(body.wallet_id)) problems.push(WALLET_ID_RULE);
    let amountMinor = 0n;
    try {
      amountMinor = parseAmount(body.amount);
    } catch (error) {
      problems.push(error instanceof InvalidAmountError ? error.message : 'amount is invalid');
    }
    refuseIfAny(problems);
    return Object.assign(new DepositRequestDto(), { wallet_id: body.wallet_id, amount: body.amount, amountMinor });
  }
}

export class DepositResponseDto {
  @ApiProperty({ example: '3b1f0c52-9e1a-4c1e-8a51-6f1f4b0c1d2e', description: 'Derived from (wallet, Idempotency-Key) when a key was sent' })
  deposit_id!: string;

  @ApiProperty({ example: '0x1a35ab' })
  wallet_id!: string;

  @ApiProperty({ example: 2000, description: 'The amount counted, an exact decimal' })
  amount!: number;

  @ApiProperty({ example: '2026-11-30T12:00:00.000Z', description: 'When the service accepted it: the event time of the threshold rule' })
  accepted_at!: string;

  @ApiProperty({ example: 'ZC4zLjEyMzQ', description: 'Pass to GET /check/{wallet_id}?token= to read your write' })
  token!: string;
}
