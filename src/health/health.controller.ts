import { Controller, Get, HttpStatus, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { type StreamsHealth, StreamsRuntime } from '../streams/index.js';
import { StartUp } from './start-up.js';

@ApiTags('operations')
@Controller('health')
export class HealthController {
  constructor(
    private readonly streams: StreamsRuntime,
    private readonly startUp: StartUp,
  ) {}

  @Get('live')
  @ApiOperation({ summary: 'Liveness: the process is up and serving HTTP' })
  @ApiOkResponse({ schema: { example: { status: 'ok' } } })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('ready')
  @ApiOperation({ summary: 'Readiness: started, Kafka reachable, every local view caught up, every processor group consuming' })
  @ApiOkResponse({ schema: { example: { status: 'ready', started: true, kafka: true, views: { 'balance-table': true }, groups: { balance: true } } } })
  @ApiServiceUnavailableResponse({ schema: { example: { status: 'not ready', started: true, kafka: false, views: { 'balance-table': true }, groups: {} } } })
  ready(@Res({ passthrough: true }) reply: FastifyReply): { status: 'ready' | 'not ready'; started: boolean } & StreamsHealth {
    const health = this.streams.health();
    const started = this.startUp.done;
    const ready = started && health.kafka && Object.values(health.views).every(Boolean) && Object.values(health.groups).every(Boolean);
    if (!ready) void reply.status(HttpStatus.SERVICE_UNAVAILABLE);
    return { status: ready ? 'ready' : 'not ready', started, ...health };
  }
}
