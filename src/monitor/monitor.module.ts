import { Module } from '@nestjs/common';
import { AdminGuard } from '../http/admin.guard.js';
import { MonitorController } from './monitor.controller.js';
import { MonitorService } from './monitor.service.js';

/** GET /monitor: the operators' page over this process's groups, views and tables. */
@Module({ controllers: [MonitorController], providers: [MonitorService, AdminGuard] })
export class MonitorModule {}
