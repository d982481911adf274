import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString } from 'class-validator';
import { LimitQueryDto } from '../../http/limit-query.dto.js';

export class HistoryQueryDto extends LimitQueryDto {
  @ApiPropertyOptional({ description: 'next_cursor of the previous page' })
  @IsOptional()
  @IsString()
  cursor?: string;
}

export class HistoryEntryDto {
  @ApiProperty({ example: '3b1f0c52-9e1a-4c1e-8a51-6f1f4b0c1d2e' })
  deposit_id!: string;

  @ApiProperty({ example: 12.5, description: 'Exact decimal, at most 2 fraction digits' })
  amount!: number;

  @ApiProperty({ example: '2026-11-30T12:00:00.000Z' })
  accepted_at!: string;

  @ApiProperty({ example: 3, description: 'Position in the wallet history, from 1' })
  seq!: number;
}

export class HistoryResponseDto {
  @ApiProperty({ example: '0x1a35ab' })
  wallet_id!: string;

  @ApiProperty({ type: [HistoryEntryDto], description: 'Newest first' })
  deposits!: HistoryEntryDto[];

  @ApiProperty({ nullable: true, type: String, description: 'Pass as cursor for the next (older) page; null on the last page' })
  next_cursor!: string | null;
}
