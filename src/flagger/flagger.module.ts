import { Module } from '@nestjs/common';
import { StreamsModule } from '../streams/index.js';
import { flaggerGroup } from './flagger.group.js';
import { FlaggerProcessor } from './flagger.processor.js';

/** The flagger processor group. */
@Module({
  imports: [StreamsModule.forGroup(flaggerGroup)],
  controllers: [FlaggerProcessor],
})
export class FlaggerModule {}
