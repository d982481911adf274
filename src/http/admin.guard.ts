import { createHash, timingSafeEqual } from 'node:crypto';
import { type CanActivate, type ExecutionContext, HttpStatus, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { AppConfig } from '../config/app-config.js';
import { HttpErrorWithHeaders } from './http-error.filter.js';

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * Admin routes, and the monitor's table and flag APIs, need `Authorization: Bearer
 * <ADMIN_TOKEN>`. The token is compared in constant time (over SHA-256 digests, so neither its
 * length nor its content leaks through timing). Without ADMIN_TOKEN the routes are disabled (503).
 */
@Injectable()
export class AdminGuard implements CanActivate {
  private readonly expected?: Buffer;

  constructor(config: AppConfig) {
    this.expected = config.admin.token ? digest(config.admin.token) : undefined;
  }

  canActivate(context: ExecutionContext): boolean {
    if (!this.expected) throw new HttpErrorWithHeaders(HttpStatus.SERVICE_UNAVAILABLE, 'admin disabled', {});
    const header = context.switchToHttp().getRequest<FastifyRequest>().headers.authorization ?? '';
    const match = /^Bearer (.+)$/i.exec(header);
    if (!match || !timingSafeEqual(digest(match[1]), this.expected)) {
      throw new HttpErrorWithHeaders(HttpStatus.UNAUTHORIZED, 'missing or invalid admin token', {
        'WWW-Authenticate': 'Bearer realm="depositaja admin"',
      });
    }
    return true;
  }
}
