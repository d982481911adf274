import { type DynamicModule, Module, type Type } from '@nestjs/common';
import { BalanceModule } from './balance/balance.module.js';
import type { AppConfigShape } from './config/app-config.js';
import { ConfigModule } from './config/config.module.js';
import { FlaggerModule } from './flagger/flagger.module.js';
import { LoggingModule } from './logging/logging.module.js';
import type { ProcessorName } from './service-options.js';
import { StreamsModule } from './streams/index.js';
import { ThresholdModule } from './threshold/threshold.module.js';

export const PROCESSOR_MODULES: Record<ProcessorName, Type> = {
  balance: BalanceModule,
  threshold: ThresholdModule,
  flagger: FlaggerModule,
};

/** What every thread of the service runs: its configuration, its logs, the streams runtime. */
export function foundationModules(config: AppConfigShape): DynamicModule[] {
  return [
    ConfigModule.forRoot(config),
    LoggingModule.forRoot(config),
    StreamsModule.forRoot({
      connection: config.kafka,
      dataDir: config.dataDir,
      viewCacheValues: config.viewCacheValues,
      emitter: { lingerMs: config.http.produceLingerMs, timeoutMs: 4500 },
    }),
  ];
}

/**
 * A processor thread's application: the foundation and the chosen processor groups, no HTTP (the
 * API's modules, Swagger and fastify are neither loaded nor held on that thread).
 */
@Module({})
export class ProcessorsModule {
  static forRoot(config: AppConfigShape, processors: readonly ProcessorName[]): DynamicModule {
    return {
      module: ProcessorsModule,
      imports: [...foundationModules(config), ...processors.map((name) => PROCESSOR_MODULES[name])],
    };
  }
}
