import { type DynamicModule, Module, type Type } from '@nestjs/common';
import { AdminModule } from './admin/admin.module.js';
import { BalanceModule } from './balance/balance.module.js';
import type { AppConfigShape } from './config/config.js';
import { ConfigModule } from './config/config.module.js';
import { DepositModule } from './deposit/deposit.module.js';
import { FlaggerModule } from './flagger/flagger.module.js';
import { HealthModule } from './health/health.module.js';
import { LoggingModule } from './logging/logging.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { MonitorModule } from './monitor/monitor.module.js';
import type { ProcessorName, ServiceOptions } from './service-options.js';
import { StreamsModule } from './streams/index.js';
import { ThresholdModule } from './threshold/threshold.module.js';
import { WalletModule } from './wallet/wallet.module.js';

const PROCESSOR_MODULES: Record<ProcessorName, Type> = {
  balance: BalanceModule,
  threshold: ThresholdModule,
  flagger: FlaggerModule,
};

/** What one thread of a process runs: `operations` are health, metrics and the monitor (main thread only). */
interface ThreadModules extends ServiceOptions {
  operations: boolean;
}

/**
 * The service as modules: operations (config, logs, metrics, health) always; the API
 * (deposits, wallet reads, admin) and each processor group when this process runs them.
 */
@Module({})
export class AppModule {
  static forRoot(config: AppConfigShape, options: ThreadModules): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggingModule.forRoot(config),
        StreamsModule.forRoot({
          connection: config.kafka,
          dataDir: config.dataDir,
          viewCacheValues: config.viewCacheValues,
          emitter: { lingerMs: config.http.produceLingerMs, timeoutMs: 4500 },
        }),
        ...(options.operations ? [MetricsModule, HealthModule, MonitorModule] : []),
        ...(options.api ? [DepositModule, WalletModule, AdminModule] : []),
        ...options.processors.map((name) => PROCESSOR_MODULES[name]),
      ],
    };
  }
}
