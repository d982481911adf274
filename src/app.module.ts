import { type DynamicModule, Module } from '@nestjs/common';
import type { AppConfigShape } from './config/config.js';
import { ConfigModule } from './config/config.module.js';
import { HealthModule } from './health/health.module.js';
import { LoggingModule } from './logging/logging.module.js';

/** The processor groups a process may run; each one is a module of its own. */
export const PROCESSOR_NAMES = ['balance', 'threshold', 'flagger'] as const;
export type ProcessorName = (typeof PROCESSOR_NAMES)[number];

/** What one process runs: the HTTP API, and any subset of the processor groups. */
export interface ServiceOptions {
  api: boolean;
  processors: readonly ProcessorName[];
}

@Module({})
export class AppModule {
  static forRoot(config: AppConfigShape, options: ServiceOptions): DynamicModule {
    void options;
    return {
      module: AppModule,
      imports: [ConfigModule.forRoot(config), LoggingModule.forRoot(config), HealthModule],
    };
  }
}
