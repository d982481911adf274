import { Controller, Get, GatewayTimeoutException, Param, Query, UnprocessableEntityException } from '@nestjs/common';
import { ApiGatewayTimeoutResponse, ApiOkResponse, ApiOperation, ApiTags, ApiUnprocessableEntityResponse } from '@nestjs/swagger';
import { AppConfig } from '../config/app-config.js';
import { decodeReadToken } from '../contracts/read-token.js';
import { DirectRoute } from '../http/direct-route.js';
import { ErrorDto } from '../http/error.dto.js';
import { WalletParamsDto } from '../http/wallet-params.dto.js';
import { Money } from '../money/money.js';
import { CheckQueryDto, CheckResponseDto } from './dto/check.dto.js';
import { HistoryQueryDto, HistoryResponseDto } from './dto/history.dto.js';
import { NotVisibleYetError, WalletService } from './wallet.service.js';

const iso = (ms: bigint | undefined) => (ms === undefined ? null : new Date(Number(ms)).toISOString());

@ApiTags('wallets')
@Controller()
export class WalletController {
  constructor(
    private readonly wallets: WalletService,
    private readonly config: AppConfig,
  ) {}

  @Get('check/:wallet_id')
  @DirectRoute()
  @ApiOperation({
    summary: "A wallet's balance and flag",
    description:
      'Answered from this instance\'s local replicas of the processors\' tables. A wallet never seen answers balance 0, not flagged. ' +
      'With `token` (from POST /deposit or an admin flag change), waits up to `wait_ms` until the replicas include that event.',
  })
  @ApiOkResponse({ type: CheckResponseDto })
  @ApiUnprocessableEntityResponse({ type: ErrorDto, description: 'Invalid wallet id, token or wait_ms' })
  @ApiGatewayTimeoutResponse({ type: ErrorDto, description: 'The token\'s event was not visible within wait_ms' })
  async check(@Param() { wallet_id }: WalletParamsDto, @Query() query: CheckQueryDto): Promise<Record<string, unknown>> {
    if (query.token !== undefined) {
      const token = decodeReadToken(query.token);
      if (!token) throw new UnprocessableEntityException('token is not a token this service issued');
      const waitMs = query.wait_ms ?? Math.min(5000, this.config.http.checkMaxWaitMs);
      if (waitMs > this.config.http.checkMaxWaitMs) {
        throw new UnprocessableEntityException(`wait_ms must be at most ${this.config.http.checkMaxWaitMs}`);
      }
      try {
        await this.wallets.waitFor(wallet_id, token, waitMs);
      } catch (error) {
        if (error instanceof NotVisibleYetError) throw new GatewayTimeoutException(error.message);
        throw error;
      }
    } else if (query.wait_ms !== undefined) {
      throw new UnprocessableEntityException('wait_ms needs a token');
    }
    const wallet = this.wallets.snapshot(wallet_id);
    return {
      wallet_id,
      balance: new Money(wallet.balanceMinor),
      above_threshold: wallet.flagged,
      balance_minor: wallet.balanceMinor.toString(),
      deposit_count: Number(wallet.depositCount),
      last_deposit_at: iso(wallet.lastDepositAtMs),
      flagged_at: iso(wallet.flaggedAtMs),
      flag_source: wallet.flagSource ?? null,
    };
  }

  @Get('wallets/:wallet_id/deposits')
  @ApiOperation({
    summary: "A wallet's counted deposits, newest first",
    description: 'Pages are stable: `next_cursor` continues below the last deposit shown, whatever arrived since.',
  })
  @ApiOkResponse({ type: HistoryResponseDto })
  @ApiUnprocessableEntityResponse({ type: ErrorDto, description: 'Invalid wallet id, limit or cursor' })
  async history(@Param() { wallet_id }: WalletParamsDto, @Query() query: HistoryQueryDto): Promise<Record<string, unknown>> {
    let before: bigint | undefined;
    if (query.cursor !== undefined) {
      const match = /^c(\d{1,15})$/.exec(Buffer.from(query.cursor, 'base64url').toString());
      if (!match || !/^[A-Za-z0-9_-]+$/.test(query.cursor)) throw new UnprocessableEntityException('cursor is not a cursor this service issued');
      before = BigInt(match[1]);
    }
    const { deposits, more } = await this.wallets.history(wallet_id, query.limit ?? 20, before);
    const last = deposits.at(-1);
    return {
      wallet_id,
      deposits: deposits.map((deposit) => ({
        deposit_id: deposit.depositId,
        amount: new Money(deposit.amountMinor),
        accepted_at: iso(deposit.acceptedAtMs),
        seq: Number(deposit.seq),
      })),
      next_cursor: more && last ? Buffer.from(`c${last.seq}`).toString('base64url') : null,
    };
  }
}
