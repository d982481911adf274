import { Module } from '@nestjs/common';
import { topics } from '../contracts/topic-map.js';
import { AdminGuard } from '../http/admin.guard.js';
import { StreamsModule } from '../streams/index.js';
import { AdminController } from './admin.controller.js';

/** Manual flag and unflag, behind ADMIN_TOKEN. */
@Module({
  imports: [StreamsModule.forTopics(topics.flagWallet)],
  controllers: [AdminController],
  providers: [AdminGuard],
})
export class AdminModule {}
