import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { refuseIfAny, unknownFields } from '../../http/validation.js';

export class CheckQueryDto {
  @ApiPropertyOptional({ description: 'A token from POST /deposit (or an admin flag): answer only once the views include that event' })
  token?: string;

  @ApiPropertyOptional({ description: 'With a token: the longest wait in ms (default 5000; at most CHECK_MAX_WAIT_MS)', minimum: 0, default: 5000 })
  wait_ms?: number;

  /** Checks the query (see SelfParsing); `wait_ms` becomes a number. */
  static parse(query: Record<string, unknown>): CheckQueryDto {
    const problems = unknownFields(query, ['token', 'wait_ms']);
    const { token } = query;
    if (token !== undefined && typeof token !== 'string') problems.push('token must be a string');
    const waitMs = query.wait_ms === undefined ? undefined : Number(query.wait_ms);
    if (waitMs !== undefined) {
      if (!Number.isInteger(waitMs)) problems.push('wait_ms must be an integer');
      else if (waitMs < 0) problems.push('wait_ms must be at least 0');
      else if (waitMs > 600_000) problems.push('wait_ms must be at most 600000');
    }
    refuseIfAny(problems);
    return Object.assign(new CheckQueryDto(), { token, wait_ms: waitMs });
  }
}

export class CheckResponseDto {
  @ApiProperty({ example: '0x1a35ab' })
  wallet_id!: string;

  @ApiProperty({ description: 'The sum of all counted deposits, an exact decimal with at most 2 fraction digits', example: 2000 })
  balance!: number;

  @ApiProperty({ description: 'Whether the wallet is flagged: deposits over the threshold within the window, or an admin', example: false })
  above_threshold!: boolean;

  @ApiProperty({ description: 'The balance in minor units (cents), as a string: exact for every client', example: '200000' })
  balance_minor!: string;

  @ApiProperty({ example: 1 })
  deposit_count!: number;

  @ApiProperty({ nullable: true, type: String, example: '2026-11-30T12:00:00.000Z', description: 'accepted_at of the newest counted deposit' })
  last_deposit_at!: string | null;

  @ApiProperty({ nullable: true, type: String, example: null, description: 'When the wallet was flagged (event time)' })
  flagged_at!: string | null;

  @ApiProperty({ nullable: true, enum: ['auto', 'manual'], example: null })
  flag_source!: 'auto' | 'manual' | null;
}
