import { Body, ConflictException, Controller, Headers, HttpCode, HttpStatus, Post, Res } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiHeader,
  ApiOperation,
  ApiPayloadTooLargeResponse,
  ApiServiceUnavailableResponse,
  ApiTags,
  ApiUnprocessableEntityResponse,
  ApiUnsupportedMediaTypeResponse,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { DirectRoute } from '../http/direct-route.js';
import { ErrorDto } from '../http/error.dto.js';
import { HttpErrorWithHeaders } from '../http/http-error.filter.js';
import { Money } from '../money/money.js';
import { DepositRequestDto, DepositResponseDto } from './dto/deposit.dto.js';
import { DepositService, DepositUnavailableError, IdempotencyConflictError } from './deposit.service.js';

const IDEMPOTENCY_KEY = /^[\x20-\x7e]{1,128}$/;

@ApiTags('deposits')
@Controller()
export class DepositController {
  constructor(private readonly deposits: DepositService) {}

  @Post('deposit')
  @HttpCode(HttpStatus.ACCEPTED)
  @DirectRoute()
  @ApiOperation({
    summary: 'Deposit into a wallet',
    description:
      'Answers 202 once Kafka has acknowledged the deposit event (acks=all). The balance and the flag follow within ' +
      'milliseconds; pass the returned `token` to GET /check to wait for them.',
  })
  @ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    description:
      '1-128 printable characters. A retry with the same key and body is counted once, across restarts and instances. It gets the original answer, ' +
      'and the same key with another body 409, from an instance whose replicas hold the first attempt (~0.1 s after its 202) or from the instance ' +
      'that answered it; sooner, through another instance, it is answered as a new acceptance (README, Semantics).',
  })
  @ApiAcceptedResponse({ type: DepositResponseDto })
  @ApiBadRequestResponse({ type: ErrorDto, description: 'Malformed or empty JSON, a __proto__ or constructor.prototype key, or an invalid Idempotency-Key' })
  @ApiConflictResponse({ type: ErrorDto, description: 'The Idempotency-Key was used with a different body' })
  @ApiPayloadTooLargeResponse({ type: ErrorDto, description: 'The body is larger than 16 KiB' })
  @ApiUnsupportedMediaTypeResponse({ type: ErrorDto, description: 'Content-Type is not application/json' })
  @ApiUnprocessableEntityResponse({ type: ErrorDto, description: 'Invalid or unknown fields' })
  @ApiServiceUnavailableResponse({ type: ErrorDto, description: 'Kafka is unavailable; see Retry-After' })
  async deposit(
    @Body() body: DepositRequestDto,
    @Headers('idempotency-key') key: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<Record<string, unknown>> {
    if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
      throw new HttpErrorWithHeaders(HttpStatus.BAD_REQUEST, 'Idempotency-Key must be 1-128 printable ASCII characters', {});
    }
    try {
      const accepted = await this.deposits.accept(body.wallet_id, body.amountMinor, key);
      if (accepted.replayed) void reply.header('Idempotent-Replayed', 'true');
      return {
        deposit_id: accepted.depositId,
        wallet_id: accepted.walletId,
        amount: new Money(accepted.amountMinor),
        accepted_at: new Date(Number(accepted.acceptedAtMs)).toISOString(),
        token: accepted.token,
      };
    } catch (error) {
      if (error instanceof IdempotencyConflictError) throw new ConflictException(error.message);
      if (error instanceof DepositUnavailableError) throw new HttpErrorWithHeaders(HttpStatus.SERVICE_UNAVAILABLE, error.message, { 'Retry-After': '1' });
      throw error;
    }
  }
}
