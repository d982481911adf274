// The floor of a GET /check in Node.js on this machine, for B7 to measure beside the service:
// a server that answers GET /check/:wallet_id with a body shaped like the service's, made from
// nothing (no view, no validation, no log line, no metrics). `node floor-server.mjs KIND`, on
// PORT; KIND is `node` (node:http alone), `fastify` (fastify alone) or `nest` (a NestJS
// controller on fastify, as the service is built).
import { createServer } from 'node:http';

const kind = process.argv[2];
const port = Number(process.env.PORT);

const check = (walletId) => ({
  wallet_id: walletId,
  balance: 12.34,
  above_threshold: false,
  balance_minor: '1234',
  deposit_count: 1,
  last_deposit_at: '2026-12-01T00:00:00.000Z',
  flagged_at: null,
  flag_source: null,
});

if (kind === 'node') {
  createServer((request, response) => {
    const body = JSON.stringify(check(decodeURIComponent(request.url.slice('/check/'.length))));
    response.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    response.end(body);
  }).listen(port, '127.0.0.1');
} else if (kind === 'fastify') {
  const { default: fastify } = await import('fastify');
  const app = fastify();
  app.get('/check/:wallet_id', async (request) => check(request.params.wallet_id));
  await app.listen({ port, host: '127.0.0.1' });
} else if (kind === 'nest') {
  await import('reflect-metadata');
  const { Controller, Get, Module, Param } = await import('@nestjs/common');
  const { NestFactory } = await import('@nestjs/core');
  const { FastifyAdapter } = await import('@nestjs/platform-fastify');
  // Decorators applied by hand: this file runs as plain JavaScript.
  class CheckController {
    check(walletId) {
      return check(walletId);
    }
  }
  Param('wallet_id')(CheckController.prototype, 'check', 0);
  Get('check/:wallet_id')(CheckController.prototype, 'check', Object.getOwnPropertyDescriptor(CheckController.prototype, 'check'));
  Controller()(CheckController);
  class FloorModule {}
  Module({ controllers: [CheckController] })(FloorModule);
  const app = await NestFactory.create(FloorModule, new FastifyAdapter(), { logger: false });
  await app.listen(port, '127.0.0.1');
} else {
  console.error('usage: PORT=… node floor-server.mjs node|fastify|nest');
  process.exit(2);
}
