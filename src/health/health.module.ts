import { Module } from '@nestjs/common';
import { HealthController } from './health.controller.js';
import { StartUp } from './start-up.js';

@Module({ controllers: [HealthController], providers: [StartUp], exports: [StartUp] })
export class HealthModule {}
