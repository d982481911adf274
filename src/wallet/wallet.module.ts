import { Module } from '@nestjs/common';
import { topics } from '../contracts/topic-map.js';
import { StreamsModule } from '../streams/index.js';
import { WalletController } from './wallet.controller.js';
import { WalletService } from './wallet.service.js';

/** The read side: GET /check and the deposit history, from local views of the tables. */
@Module({
  imports: [StreamsModule.forView(topics.balanceTable, topics.flaggerTable, topics.thresholdTable, topics.balanceDeposits)],
  controllers: [WalletController],
  providers: [WalletService],
})
export class WalletModule {}
