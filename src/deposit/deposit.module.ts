import { Module } from '@nestjs/common';
import { topics } from '../contracts/topic-map.js';
import { StreamsModule } from '../streams/index.js';
import { DepositController } from './deposit.controller.js';
import { DepositService } from './deposit.service.js';

/**
 * The write side: POST /deposit and the deposit emitter. It reads the balance group's deposits
 * table (the same view the wallet module reads) to answer a retried Idempotency-Key.
 */
@Module({
  imports: [StreamsModule.forTopics(topics.deposit), StreamsModule.forView(topics.balanceDeposits)],
  controllers: [DepositController],
  providers: [DepositService],
})
export class DepositModule {}
