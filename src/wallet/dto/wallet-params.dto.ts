import { ApiProperty } from '@nestjs/swagger';
import { Matches } from 'class-validator';
import { WALLET_ID_PATTERN, WALLET_ID_RULE } from '../wallet-id.js';

export class WalletParamsDto {
  @ApiProperty({ description: 'The wallet: 1-128 characters of A-Z a-z 0-9 . _ : -', example: '0x1a35ab' })
  @Matches(WALLET_ID_PATTERN, { message: WALLET_ID_RULE })
  wallet_id!: string;
}
