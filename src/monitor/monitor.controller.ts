import { Controller, Get, Header, NotFoundException, Query, Res, UseGuards } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiExcludeEndpoint,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
  ApiUnauthorizedResponse,
  ApiUnprocessableEntityResponse,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { AdminGuard } from '../http/admin.guard.js';
import { ErrorDto } from '../http/error.dto.js';
import { FlagEventsQueryDto, LookupQueryDto } from './dto/monitor.dto.js';
import { MONITOR_PAGE, MONITOR_PAGE_HEADERS } from './monitor-page.js';
import { type FlagEvent, type LookupResult, type MonitorSummary, MonitorService } from './monitor.service.js';

/**
 * The operators' page and its JSON. The page itself and the summary are public (states, counts
 * and lag, as /metrics shows them); keys and values, the table browser and flag events, need
 * the admin token (docs/operations.md says why).
 */
@ApiTags('operations')
@Controller('monitor')
export class MonitorController {
  constructor(private readonly monitor: MonitorService) {}

  @Get()
  @ApiExcludeEndpoint()
  page(@Res({ passthrough: true }) reply: FastifyReply): string {
    void reply.headers(MONITOR_PAGE_HEADERS);
    return MONITOR_PAGE;
  }

  @Get('api/summary')
  @Header('Cache-Control', 'no-store')
  @ApiOperation({
    summary: 'Monitor: processor groups and views of this process',
    description: 'Public, like /metrics: partitions owned, state, restore progress, lag, records/s, dead letters; view readiness and lag. No keys, no values.',
  })
  @ApiOkResponse({ description: 'The summary' })
  summary(): MonitorSummary {
    return this.monitor.summary();
  }

  @Get('api/tables')
  @UseGuards(AdminGuard)
  @Header('Cache-Control', 'no-store')
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Monitor: the tables and stores this process can look keys up in (admin)' })
  @ApiOkResponse({ schema: { example: { tables: ['balance-table', 'flagger-table'] } } })
  @ApiUnauthorizedResponse({ type: ErrorDto, description: 'Missing or wrong bearer token' })
  @ApiServiceUnavailableResponse({ type: ErrorDto, description: 'ADMIN_TOKEN is not set (admin disabled)' })
  tables(): { tables: string[] } {
    return { tables: this.monitor.tables() };
  }

  @Get('api/lookup')
  @UseGuards(AdminGuard)
  @Header('Cache-Control', 'no-store')
  @ApiBearerAuth()
  @ApiOperation({
    summary: "Monitor: a key's decoded value in a table (admin)",
    description: 'From this process\'s view of the table, else from the local store of a group here that owns the key\'s partition. int64 fields are decimal strings, bytes hex.',
  })
  @ApiOkResponse({ schema: { example: { table: 'balance-table', key: '0x1a35ab', source: 'view', value: { balanceMinor: '200000', depositCount: '1' }, applied: { deposit: 7 } } } })
  @ApiNotFoundResponse({ type: ErrorDto, description: 'Unknown table, or no value under the key here' })
  @ApiUnprocessableEntityResponse({ type: ErrorDto, description: 'table or key missing or invalid, or an unknown query field' })
  @ApiUnauthorizedResponse({ type: ErrorDto, description: 'Missing or wrong bearer token' })
  @ApiServiceUnavailableResponse({ type: ErrorDto, description: 'ADMIN_TOKEN is not set (admin disabled)' })
  async lookup(@Query() { table, key }: LookupQueryDto): Promise<LookupResult> {
    const tables = this.monitor.tables();
    if (!tables.includes(table)) throw new NotFoundException(`no table ${table} in this process; it has ${tables.join(', ') || 'none'}`);
    const found = await this.monitor.lookup(table, key);
    if (!found) throw new NotFoundException(`no value under ${key} in ${table} here (never written, or its partition is owned by another instance)`);
    return found;
  }

  @Get('api/flags')
  @UseGuards(AdminGuard)
  @Header('Cache-Control', 'no-store')
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Monitor: the latest flag changes this process read, newest first, one per wallet (admin)' })
  @ApiOkResponse({ description: '`available` is false in a process without a view of the flag table' })
  @ApiUnprocessableEntityResponse({ type: ErrorDto, description: 'limit out of range, or an unknown query field' })
  @ApiUnauthorizedResponse({ type: ErrorDto, description: 'Missing or wrong bearer token' })
  @ApiServiceUnavailableResponse({ type: ErrorDto, description: 'ADMIN_TOKEN is not set (admin disabled)' })
  async flags(@Query() { limit }: FlagEventsQueryDto): Promise<{ available: boolean; events: FlagEvent[] }> {
    const events = await this.monitor.flagEvents(limit ?? 20);
    return { available: events !== undefined, events: events ?? [] };
  }
}
