// The floors of the service's hot routes in Node.js on this machine, measured beside it.
// `node floor-server.mjs KIND`, on PORT. For B7, servers that answer GET /check/:wallet_id with a
// body shaped like the service's, made from nothing (no view, no validation, no log line, no
// metrics): KIND `node` (node:http alone), `fastify` (fastify alone) or `nest` (a NestJS
// controller on fastify, as the service is built). For B1, KIND `deposit`: POST /deposit with
// the least any Node.js service must do for it (see below).
import { createServer } from 'node:http';

const kind = process.argv[2];
const port = Number(process.env.PORT);
// Exit normally on a signal, so that `node --cpu-prof` writes its profile.
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));

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
} else if (kind === 'deposit') {
  // The floor of a POST /deposit: node:http, JSON.parse, then the service's own parts for what
  // any deposit service must do: its amount parser, its Deposit event (protobuf) and its emitter
  // (one idempotent acks=all producer, kafkajs patched as the service patches it, concurrent
  // emits gathered into one request); a 202 with a body shaped like ours. No validation beyond
  // that, no views, no processors, no log line, no metrics, no Nest. KAFKA_BROKERS and TOPIC
  // (6 partitions, already created) from the environment.
  const { createRequire } = await import('node:module');
  const require = createRequire(new globalThis.URL('../../dist/main.js', import.meta.url));
  const { ReliableProducer } = require('./streams/producer.js');
  const { Emitter } = require('./streams/emitter.js');
  const { Kafka, logLevel } = require('kafkajs');
  const { newDeposit } = require('./contracts/deposit-event.js');
  const { encodeReadToken } = require('./contracts/read-token.js');
  const { topics } = require('./contracts/topic-map.js');
  const { formatMinor, parseAmount } = require('./money/money.js');
  const kafka = new Kafka({ brokers: process.env.KAFKA_BROKERS.split(','), logLevel: logLevel.ERROR });
  const emitter = new Emitter(new ReliableProducer(kafka, 'floor'), {
    lingerMs: 2, // PRODUCE_LINGER_MS's default
    timeoutMs: 10_000,
    physical: () => process.env.TOPIC,
    partitions: () => 6,
  });
  createServer((request, response) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      const answer = (status, body) => {
        const text = JSON.stringify(body);
        response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
        response.end(text);
      };
      let deposit;
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString());
        deposit = newDeposit(String(body.wallet_id), parseAmount(body.amount), Date.now());
      } catch (error) {
        return answer(400, { error: error instanceof Error ? error.message : String(error) });
      }
      emitter.emit(topics.deposit, deposit.walletId, deposit).then(
        ({ partition, offset }) =>
          answer(202, {
            deposit_id: deposit.depositId,
            wallet_id: deposit.walletId,
            amount: Number(formatMinor(deposit.amountMinor)),
            accepted_at: new Date(Number(deposit.acceptedAtMs)).toISOString(),
            token: encodeReadToken({ kind: 'deposit', partition, offset }),
          }),
        () => answer(503, { error: 'Kafka is unavailable' }),
      );
    });
  }).listen(port, '127.0.0.1');
} else {
  console.error('usage: PORT=… node floor-server.mjs node|fastify|nest|deposit');
  process.exit(2);
}
