import type { Express } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/http/app.js';
import { toOpenApiPath } from '../../src/http/openapi.js';
import { startHarness, type Harness } from '../support/harness.js';

// Served by the app but not part of the public API the document describes: probes for the
// orchestrator, the document itself, the console's page and its assets, and the local stand-ins
// for external providers.
const NOT_API = [/^\/(healthz|readyz|metrics|openapi\.json)$/, /^\/$/, /^\/console\//, /^\/sandbox\//];

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle: { stack?: Layer[] };
  rawPath?: string;
}

/** Every method and path the express app answers, found by walking its router tree. */
function mountedRoutes(app: Express): string[] {
  const found: string[] = [];
  const walk = (stack: Layer[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const method of Object.keys(layer.route.methods)) found.push(`${method} ${prefix}${layer.route.path}`);
      } else if (layer.handle.stack) {
        walk(layer.handle.stack, prefix + (layer.rawPath && layer.rawPath !== '/' ? layer.rawPath : ''));
      }
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack, '');
  return found;
}

type Schema = { $ref?: string; type?: string | string[]; const?: unknown; required?: string[]; properties?: Record<string, Schema> };

/** Where `value` breaks `schema` (the subset the error schemas use: $ref, type, const, required, properties); [] when it holds. */
function violations(value: unknown, schema: Schema, components: Record<string, Schema>, at = ''): string[] {
  if (schema.$ref) return violations(value, components[schema.$ref.split('/').pop()!]!, components, at);
  if ('const' in schema && value !== schema.const) return [`${at || '/'}: not ${JSON.stringify(schema.const)}`];
  const types = [schema.type ?? []].flat();
  const typeOf = value === null ? 'null' : typeof value;
  if (types.length && !types.includes(typeOf)) return [`${at || '/'}: ${typeOf}, not ${types.join('|')}`];
  if (typeOf !== 'object') return [];
  const object = value as Record<string, unknown>;
  return [
    ...(schema.required ?? []).filter((k) => !(k in object)).map((k) => `${at}/${k}: missing`),
    ...Object.entries(schema.properties ?? {}).flatMap(([k, s]) => (k in object ? violations(object[k], s, components, `${at}/${k}`) : [])),
  ];
}

describe('GET /openapi.json', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ worker: false });
  });
  afterAll(async () => h?.close());

  it('documents every public route the app serves', async () => {
    const response = await h.call('GET', '/openapi.json');
    expect(response.status).toBe(200);
    const doc = await response.json();
    expect(doc.openapi).toBe('3.1.0');
    const documented = new Set(
      Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) =>
        Object.keys(ops).map((method) => `${method} ${path}`),
      ),
    );
    const routes = mountedRoutes(createApp(h.services)).filter((r) => !NOT_API.some((re) => re.test(r.split(' ')[1]!)));
    expect(routes.length).toBeGreaterThan(5);
    const missing = routes.filter((r) => {
      const [method, path] = r.split(' ') as [string, string];
      return !documented.has(`${method} ${toOpenApiPath(path)}`);
    });
    expect(missing).toEqual([]);
  });

  // Found by the fault suite's schemathesis run: /v1/messages and /v1/messages/count_tokens answer
  // errors in Anthropic's shape, but the document promised OpenAI's for every undocumented status.
  it('documents, as each keyed operation\'s default answer, the error shape its 401 really has', async () => {
    const doc = await (await h.call('GET', '/openapi.json')).json();
    const components = doc.components.schemas as Record<string, Schema>;
    const wrong: string[] = [];
    let checked = 0;
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, { security?: unknown[]; responses: Record<string, { content?: Record<string, { schema: Schema }> }> }>>)) {
      for (const [method, op] of Object.entries(ops)) {
        if (JSON.stringify(op.security) !== JSON.stringify([{ apiKey: [] }])) continue;
        const res = await h.call(method.toUpperCase(), path.replace(/\{\w+\}/g, 'x'), { body: method === 'get' || method === 'delete' ? undefined : {} });
        if (res.status !== 401) {
          wrong.push(`${method} ${path}: ${res.status} without a key`);
          continue;
        }
        const documented = op.responses['401']?.content?.['application/json']?.schema ?? op.responses.default!.content!['application/json']!.schema;
        wrong.push(...violations(await res.json(), documented, components).map((v) => `${method} ${path} 401 ${v}`));
        checked++;
      }
    }
    expect(wrong).toEqual([]);
    expect(checked).toBeGreaterThan(20);
    expect(doc.paths['/v1/messages/count_tokens'].post.responses.default.content['application/json'].schema.$ref).toBe('#/components/schemas/AnthropicError');
  });

  // Found by the fault suite's schemathesis run (ST105): the usage export answered text/csv, which
  // the document did not list for GET /v1/billing/usage.
  it('lists the content type of each answer it documents, the usage CSV export included', async () => {
    const doc = await (await h.call('GET', '/openapi.json')).json();
    const { key } = await h.createAccount();
    for (const query of ['', '?format=csv', '?group_by=day', '?group_by=model&format=csv']) {
      const res = await h.call('GET', `/v1/billing/usage${query}`, { key });
      expect(res.status, query).toBe(200);
      await res.arrayBuffer();
      const type = res.headers.get('content-type')!.split(';')[0]!;
      expect(Object.keys(doc.paths['/v1/billing/usage'].get.responses['200'].content), query).toContain(type);
    }
  });

  it('describes the chat request body and the usage cost field the gateway adds', async () => {
    const doc = await (await h.call('GET', '/openapi.json')).json();
    const chat = doc.paths['/v1/chat/completions'].post;
    const body = chat.requestBody.content['application/json'].schema;
    expect(body.required).toEqual(expect.arrayContaining(['model', 'messages']));
    expect(Object.keys(body.properties)).toEqual(expect.arrayContaining(['max_tokens', 'max_completion_tokens', 'stream', 'stream_options']));
    expect(chat.responses['200'].content['application/json'].schema.properties.usage.required).toContain('cost');
    expect(chat.responses['402']).toBeDefined();
    expect(chat.security).toEqual([{ apiKey: [] }]);
    expect(doc.paths['/v1/billing/usage'].get.parameters.map((p: { name: string }) => p.name)).toEqual(
      expect.arrayContaining(['limit', 'after', 'model', 'start_time', 'end_time']),
    );
    expect(doc.paths['/v1/models/{id}'].get.parameters[0]).toMatchObject({ name: 'id', in: 'path' });
  });
});
