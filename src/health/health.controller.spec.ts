import type { FastifyReply } from 'fastify';
import type { StreamsRuntime } from '../streams/index.js';
import { HealthController } from './health.controller.js';
import { StartUp } from './start-up.js';

describe('GET /health/ready', () => {
  const healthy = { health: () => ({ kafka: true, views: { 'balance-table': true }, groups: { balance: true } }) } as unknown as StreamsRuntime;
  const reply = () => {
    const sent = { status: 200 };
    return { sent, reply: { status: (code: number) => ((sent.status = code), undefined) } as unknown as FastifyReply };
  };

  it('is not ready while the process is still starting, however healthy its parts', () => {
    const { sent, reply: r } = reply();
    const body = new HealthController(healthy, new StartUp()).ready(r);

    expect(sent.status).toBe(503);
    expect(body).toMatchObject({ status: 'not ready', started: false, kafka: true });
  });

  it('is ready once started with every part healthy', () => {
    const startUp = new StartUp();
    startUp.done = true;
    const { sent, reply: r } = reply();
    const body = new HealthController(healthy, startUp).ready(r);

    expect(sent.status).toBe(200);
    expect(body).toMatchObject({ status: 'ready', started: true });
  });
});
