import { type DynamicModule, Global, Module } from '@nestjs/common';
import { AppConfig, type AppConfigShape } from './app-config.js';

/** Provides the configuration, validated once at start-up, as {@link AppConfig} everywhere. */
@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: AppConfigShape): DynamicModule {
    return {
      module: ConfigModule,
      providers: [{ provide: AppConfig, useValue: config }],
      exports: [AppConfig],
    };
  }
}
