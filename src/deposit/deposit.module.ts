import { Module } from '@nestjs/common';
import { topics } from '../contracts/topic-map.js';
import { StreamsModule } from '../streams/index.js';
import { WalletModule } from '../wallet/wallet.module.js';
import { DepositController } from './deposit.controller.js';
import { DepositService } from './deposit.service.js';

/** The write side: POST /deposit and the deposit emitter. */
@Module({
  imports: [StreamsModule.forTopics(topics.deposit), WalletModule],
  controllers: [DepositController],
  providers: [DepositService],
})
export class DepositModule {}
