import { Module } from '@nestjs/common';
import { StreamsModule } from '../streams/index.js';
import { balanceGroup } from './balance.group.js';
import { BalanceProcessor } from './balance.processor.js';

/** The balance processor group (runs where processors run). */
@Module({
  imports: [StreamsModule.forGroup(balanceGroup)],
  controllers: [BalanceProcessor],
})
export class BalanceModule {}
