import { Module } from '@nestjs/common';
import { StreamsModule } from '../streams/index.js';
import { thresholdGroup } from './threshold.group.js';
import { ThresholdProcessor } from './threshold.processor.js';

/** The threshold processor group. */
@Module({
  imports: [StreamsModule.forGroup(thresholdGroup)],
  controllers: [ThresholdProcessor],
})
export class ThresholdModule {}
