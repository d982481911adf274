import { Controller, Get, HttpStatus, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { type StreamsHealth, StreamsRuntime } from '../streams/index.js';

@ApiTags('operations')
@Controller('health')
export class HealthController {
  constructor(private readonly streams: StreamsRuntime) {}

  @Get('live')
  @ApiOperation({ summary: 'Liveness: the process is up and serving HTTP' })
  @ApiOkResponse({ schema: { example: { status: 'ok' } } })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('ready')
  @ApiOperation({ summary: 'Readiness: Kafka reachable, every local view caught up, every processor group consuming' })
  @ApiOkResponse({ schema: { example: { status: 'ready', kafka: true, views: { 'balance-table': true }, groups: { balance: true } } } })
  @ApiServiceUnavailableResponse({ schema: { example: { status: 'not ready', kafka: false, views: { 'balance-table': true }, groups: {} } } })
  ready(@Res({ passthrough: true }) reply: FastifyReply): { status: 'ready' | 'not ready' } & StreamsHealth {
    const health = this.streams.health();
    const ready = health.kafka && Object.values(health.views).every(Boolean) && Object.values(health.groups).every(Boolean);
    if (!ready) void reply.status(HttpStatus.SERVICE_UNAVAILABLE);
    return { status: ready ? 'ready' : 'not ready', ...health };
  }
}
