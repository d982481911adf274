import { type DynamicModule, Module } from '@nestjs/common';
import { AdminModule } from './admin/admin.module.js';
import type { AppConfigShape } from './config/app-config.js';
import { DepositModule } from './deposit/deposit.module.js';
import { HealthModule } from './health/health.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { MonitorModule } from './monitor/monitor.module.js';
import { PROCESSOR_MODULES, foundationModules } from './processors.module.js';
import type { ServiceOptions } from './service-options.js';
import { WalletModule } from './wallet/wallet.module.js';

/**
 * A process's main thread as modules: operations (config, logs, metrics, health, the monitor)
 * always; the API (deposits, wallet reads, admin) and each processor group when it runs them.
 * A processor thread runs ProcessorsModule.
 */
@Module({})
export class AppModule {
  static forRoot(config: AppConfigShape, options: ServiceOptions): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ...foundationModules(config),
        MetricsModule,
        HealthModule,
        MonitorModule,
        ...(options.api ? [DepositModule, WalletModule, AdminModule] : []),
        ...options.processors.map((name) => PROCESSOR_MODULES[name]),
      ],
    };
  }
}
