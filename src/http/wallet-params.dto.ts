import { ApiProperty } from '@nestjs/swagger';
import { WALLET_ID_RULE, isWalletId } from '../contracts/wallet-id.js';
import { refuseIfAny } from './validation.js';

export class WalletParamsDto {
  @ApiProperty({ description: 'The wallet: 1-128 characters of A-Z a-z 0-9 . _ : -', example: '0x1a35ab' })
  wallet_id!: string;

  /** Checks the path parameters (see SelfParsing). */
  static parse(params: Record<string, unknown>): WalletParamsDto {
    refuseIfAny(isWalletId(params.wallet_id) ? [] : [WALLET_ID_RULE]);
    return Object.assign(new WalletParamsDto(), { wallet_id: params.wallet_id });
  }
}
