import { ApiProperty } from '@nestjs/swagger';

/** The body of every error response. */
export class ErrorDto {
  @ApiProperty({ example: 'amount must be greater than 0' })
  error!: string;
}
