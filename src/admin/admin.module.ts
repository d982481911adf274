import { Module } from '@nestjs/common';
import { topics } from '../contracts/topic-map.js';
import { StreamsModule } from '../streams/index.js';
import { AdminController } from './admin.controller.js';
import { AdminGuard } from './admin.guard.js';

/** Manual flag and unflag, behind ADMIN_TOKEN. */
@Module({
  imports: [StreamsModule.forTopics(topics.flagWallet)],
  controllers: [AdminController],
  providers: [AdminGuard],
})
export class AdminModule {}
