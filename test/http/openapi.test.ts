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
