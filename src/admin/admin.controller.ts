import { Body, Controller, Delete, HttpCode, HttpStatus, Param, Put, UseGuards } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBearerAuth,
  ApiBody,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
  ApiUnauthorizedResponse,
  ApiUnprocessableEntityResponse,
} from '@nestjs/swagger';
import { manualFlagEvent } from '../contracts/flag-event.js';
import { encodeReadToken } from '../contracts/read-token.js';
import { topics } from '../contracts/topic-map.js';
import { AdminGuard } from '../http/admin.guard.js';
import { ErrorDto } from '../http/error.dto.js';
import { HttpErrorWithHeaders } from '../http/http-error.filter.js';
import { WalletParamsDto } from '../http/wallet-params.dto.js';
import { EmitError, Emitter } from '../streams/index.js';
import { FlagRequestDto, FlagResponseDto } from './dto/flag.dto.js';

@ApiTags('admin')
@ApiBearerAuth()
@UseGuards(AdminGuard)
@ApiUnauthorizedResponse({ type: ErrorDto, description: 'Missing or wrong bearer token' })
@ApiServiceUnavailableResponse({ type: ErrorDto, description: 'ADMIN_TOKEN is not set (admin disabled), or Kafka is unavailable' })
@ApiUnprocessableEntityResponse({ type: ErrorDto, description: 'Invalid wallet id or body' })
@Controller('admin/wallets')
export class AdminController {
  constructor(private readonly emitter: Emitter) {}

  @Put(':wallet_id/flag')
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({ summary: 'Flag a wallet by hand', description: 'A manual flag event on the flag stream: it survives restarts and replays.' })
  @ApiAcceptedResponse({ type: FlagResponseDto })
  @ApiBody({ type: FlagRequestDto, required: false, description: 'Optional: the reason, kept with the flag' })
  flag(@Param() { wallet_id }: WalletParamsDto, @Body() body: FlagRequestDto): Promise<FlagResponseDto> {
    return this.emit(wallet_id, true, body.reason);
  }

  @Delete(':wallet_id/flag')
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({
    summary: 'Unflag a wallet by hand',
    description: 'Deposits accepted up to now no longer count towards the threshold; a new window over it flags again.',
  })
  @ApiAcceptedResponse({ type: FlagResponseDto })
  @ApiBody({ type: FlagRequestDto, required: false, description: 'Optional: the reason, kept with the flag' })
  unflag(@Param() { wallet_id }: WalletParamsDto, @Body() body: FlagRequestDto): Promise<FlagResponseDto> {
    return this.emit(wallet_id, false, body.reason);
  }

  private async emit(walletId: string, flagged: boolean, reason?: string): Promise<FlagResponseDto> {
    try {
      const delivery = await this.emitter.emit(topics.flagWallet, walletId, manualFlagEvent(walletId, flagged, Date.now(), reason));
      return { wallet_id: walletId, flagged, token: encodeReadToken({ kind: 'flag', partition: delivery.partition, offset: delivery.offset }) };
    } catch (error) {
      if (error instanceof EmitError) throw new HttpErrorWithHeaders(HttpStatus.SERVICE_UNAVAILABLE, 'Kafka is unavailable; retry', { 'Retry-After': '1' });
      throw error;
    }
  }
}
