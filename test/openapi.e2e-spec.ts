import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { uniquePrefix } from './support/kafka.js';
import { Service, scratchDir } from './support/service.js';

const ADMIN_TOKEN = 'openapi-admin-token-0123456789';

interface Operation {
  parameters?: Array<{ name: string; in: 'path' | 'query' | 'header'; required?: boolean }>;
  requestBody?: { required?: boolean; content: Record<string, { schema: { $ref?: string } }> };
  responses: Record<string, unknown>;
  security?: unknown[];
  operationId?: string;
}

interface Probe {
  what: string;
  path: string;
  body?: string;
  headers: Record<string, string>;
}

/**
 * The OpenAPI document at /docs-json against the running service: every operation is sent
 * valid requests, requests with bad path values, unknown and bad query values, missing,
 * malformed and foreign bodies, and no credentials; every status answered must be one the
 * document lists for that operation, and a body the document calls optional must be optional.
 */
describe('the OpenAPI document', () => {
  const prefix = uniquePrefix('openapi');
  const data = scratchDir('openapi');
  let sut: Service;
  let document: { paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, { properties?: Record<string, { example?: unknown }> }> } };

  beforeAll(async () => {
    sut = await Service.start('service', { entry: 'main', topicPrefix: prefix, dataDir: join(data, 'svc'), env: { ADMIN_TOKEN } });
    document = (await sut.request('GET', '/docs-json')).body;
  }, 120_000);

  afterAll(async () => {
    await sut?.stop('SIGKILL');
    rmSync(data, { recursive: true, force: true });
  });

  /** A body made of the examples of the schema's properties. */
  function exampleBody(operation: Operation): string | undefined {
    const ref = operation.requestBody?.content['application/json']?.schema.$ref;
    if (!ref) return undefined;
    const properties = document.components.schemas[ref.split('/').pop()!].properties ?? {};
    return JSON.stringify(Object.fromEntries(Object.entries(properties).map(([name, property]) => [name, property.example])));
  }

  function probes(template: string, operation: Operation): Probe[] {
    const auth: Record<string, string> = operation.security ? { authorization: `Bearer ${ADMIN_TOKEN}` } : {};
    const json: Record<string, string> = { 'content-type': 'application/json' };
    const path = (wallet: string) => template.replace('{wallet_id}', wallet);
    const query = (operation.parameters ?? []).filter((parameter) => parameter.in === 'query');
    const valid = path('0x1a35ab') + (template === '/monitor/api/lookup' ? '?table=balance-table&key=0x1a35ab' : '');
    const body = exampleBody(operation);
    const list: Probe[] = [
      { what: 'a valid request', path: valid, body, headers: { ...auth, ...(body ? json : {}) } },
      { what: 'an unknown query field', path: `${valid}${valid.includes('?') ? '&' : '?'}unknown_field=1`, body, headers: { ...auth, ...(body ? json : {}) } },
      ...query.map((parameter) => ({ what: `a bad ${parameter.name}`, path: `${path('0x1a35ab')}?${parameter.name}=%00%FF!`, body, headers: { ...auth, ...(body ? json : {}) } })),
    ];
    if (template.includes('{wallet_id}')) list.push({ what: 'a bad wallet id', path: path('bad%20id'), body, headers: { ...auth, ...(body ? json : {}) } });
    if (operation.security) list.push({ what: 'no credentials', path: valid, body, headers: body ? json : {} });
    if (operation.requestBody) {
      list.push(
        { what: 'no body', path: valid, headers: auth },
        { what: 'an empty object', path: valid, body: '{}', headers: { ...auth, ...json } },
        { what: 'an unknown field', path: valid, body: '{"unknown_field":1}', headers: { ...auth, ...json } },
        { what: 'malformed JSON', path: valid, body: '{"a":', headers: { ...auth, ...json } },
        { what: 'a form body', path: valid, body: 'a=1', headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' } },
        { what: 'a body over 16 KiB', path: valid, body: JSON.stringify({ reason: 'x'.repeat(17_000) }), headers: { ...auth, ...json } },
      );
    }
    return list;
  }

  it('names its schemas and operations as the code does', () => {
    const operationIds = Object.values(document.paths).flatMap((operations) => Object.values(operations).map((operation) => operation.operationId));

    // The bundles rename a class that refers to itself (`_DepositRequestDto`); a client generated
    // from the document would carry that name.
    expect(Object.keys(document.components.schemas).filter((name) => !/^[A-Z][A-Za-z]*Dto$/.test(name))).toEqual([]);
    expect(document.components.schemas).toHaveProperty('DepositRequestDto');
    expect(operationIds.filter((id) => !/^[A-Z][A-Za-z]*Controller_[a-z][A-Za-z]*$/.test(id ?? ''))).toEqual([]);
  });

  it('lists every status each route answers, and the bodies it takes', async () => {
    const undocumented: string[] = [];
    let sent = 0;
    for (const [template, operations] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        for (const probe of probes(template, operation)) {
          const response = await fetch(`${sut.url}${probe.path}`, { method: method.toUpperCase(), headers: probe.headers, body: probe.body });
          await response.arrayBuffer();
          sent++;
          if (!(String(response.status) in operation.responses)) {
            undocumented.push(`${method.toUpperCase()} ${template} with ${probe.what}: ${response.status}, documented ${Object.keys(operation.responses).join(' ')}`);
          }
          if (probe.what === 'no body' && !operation.requestBody?.required && response.status >= 400) {
            undocumented.push(`${method.toUpperCase()} ${template}: the body is documented as optional, but a request without one got ${response.status}`);
          }
          if (probe.what === 'no body' && operation.requestBody?.required && response.status < 400) {
            undocumented.push(`${method.toUpperCase()} ${template}: the body is documented as required, but a request without one got ${response.status}`);
          }
        }
      }
    }

    expect(Object.keys(document.paths).length).toBeGreaterThanOrEqual(10);
    expect(sent).toBeGreaterThan(50);
    expect(undocumented).toEqual([]);
  }, 120_000);
});
