import { ApiProperty } from '@nestjs/swagger';
import { IsString, MaxLength, MinLength } from 'class-validator';
import { LimitQueryDto } from '../../http/limit-query.dto.js';

export class LookupQueryDto {
  @ApiProperty({ description: 'A table or store of this process (GET /monitor/api/tables)', example: 'balance-table' })
  @IsString({ message: 'table must be a string' })
  @MinLength(1, { message: 'table must not be empty' })
  @MaxLength(256, { message: 'table must be at most 256 characters' })
  table!: string;

  @ApiProperty({ description: 'The key, as on the topic (a wallet id for the wallet tables)', example: '0x1a35ab' })
  @IsString({ message: 'key must be a string' })
  @MinLength(1, { message: 'key must not be empty' })
  @MaxLength(512, { message: 'key must be at most 512 characters' })
  key!: string;
}

export class FlagEventsQueryDto extends LimitQueryDto {}
