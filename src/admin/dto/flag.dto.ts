import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength } from 'class-validator';

export class FlagRequestDto {
  @ApiPropertyOptional({ description: 'Why, for the record (kept with the flag)', maxLength: 500, example: 'reviewed: payroll batch' })
  @IsOptional()
  @IsString({ message: 'reason must be a string' })
  @MaxLength(500, { message: 'reason must be at most 500 characters' })
  reason?: string;
}

export class FlagResponseDto {
  @ApiProperty({ example: '0x1a35ab' })
  wallet_id!: string;

  @ApiProperty({ example: true })
  flagged!: boolean;

  @ApiProperty({ description: 'Pass to GET /check/{wallet_id}?token= to read the change', example: 'Zi4zLjU' })
  token!: string;
}
