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
  // The floor of a POST /deposit: node:http, JSON.parse, the service's own Deposit event
  // (protobuf), partition and kafkajs (patched as the service patches it), one idempotent
  // producer with acks=all sending what arrived while its previous send was in flight, then a
  // 202 with a body shaped like ours. No validation beyond types, no views, no processors, no
  // log line, no metrics. KAFKA_BROKERS and TOPIC (6 partitions, already created) from the
  // environment.
  const { createRequire } = await import('node:module');
  const require = createRequire(new globalThis.URL('../../dist/main.js', import.meta.url));
  require('./streams/kafkajs-patches.js');
  const { Kafka, logLevel } = require('kafkajs');
  const { newDeposit } = require('./contracts/deposit-event.js');
  const { topics } = require('./contracts/topic-map.js');
  const { partitionFor } = require('./streams/producer.js');
  const kafka = new Kafka({ brokers: process.env.KAFKA_BROKERS.split(','), logLevel: logLevel.ERROR });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const topic = process.env.TOPIC;
  let queued = [];
  let sending = false;
  const flush = async () => {
    sending = true;
    while (queued.length > 0) {
      const batch = queued;
      queued = [];
      try {
        const acks = await producer.sendBatch({ acks: -1, topicMessages: [{ topic, messages: batch.map((item) => item.message) }] });
        const base = new Map(acks.map((ack) => [ack.partition, Number(ack.baseOffset)]));
        const seen = new Map();
        for (const item of batch) {
          const index = seen.get(item.message.partition) ?? 0;
          seen.set(item.message.partition, index + 1);
          item.resolve(base.get(item.message.partition) + index);
        }
      } catch (error) {
        for (const item of batch) item.reject(error);
      }
    }
    sending = false;
  };
  const produce = (message) =>
    new Promise((resolve, reject) => {
      queued.push({ message, resolve, reject });
      if (!sending) void flush();
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
      let body;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString());
      } catch {
        return answer(400, { error: 'the body is not valid JSON' });
      }
      if (typeof body?.wallet_id !== 'string' || !/^\d+(\.\d{1,2})?$/.test(String(body.amount))) return answer(422, { error: 'invalid' });
      const [whole, cents = ''] = String(body.amount).split('.');
      const deposit = newDeposit(body.wallet_id, BigInt(whole) * 100n + BigInt(cents.padEnd(2, '0')), Date.now());
      const partition = partitionFor(body.wallet_id, 6);
      produce({ key: body.wallet_id, value: Buffer.from(topics.deposit.codec.encode(deposit)), partition }).then(
        (offset) =>
          answer(202, {
            deposit_id: deposit.depositId,
            wallet_id: deposit.walletId,
            amount: Number(body.amount),
            accepted_at: new Date(Number(deposit.acceptedAtMs)).toISOString(),
            token: Buffer.from(`d.${partition}.${offset}`).toString('base64url'),
          }),
        () => answer(503, { error: 'Kafka is unavailable' }),
      );
    });
  }).listen(port, '127.0.0.1');
} else {
  console.error('usage: PORT=… node floor-server.mjs node|fastify|nest|deposit');
  process.exit(2);
}
