import { z } from 'zod';
import { speaksAnthropic } from '../messages/anthropic-errors.js';

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';
export type Auth = 'api_key' | 'admin' | 'none' | 'webhook_signature' | 'console_session';

export interface OperationSpec {
  method: Method;
  /** Express-style path (`/v1/videos/:id`); documented as `/v1/videos/{id}`. */
  path: string;
  summary: string;
  tag: string;
  auth: Auth;
  body?: z.ZodType;
  query?: z.ZodType;
  /** Other request content types accepted with the same schema (e.g. multipart/form-data). */
  alsoAccepts?: string[];
  /** Uploaded files the multipart form takes beside the body's text fields. */
  files?: { name: string; description: string; multiple?: boolean; required?: boolean }[];
  /** The body comes only as multipart/form-data (it carries files), never as JSON. */
  multipartOnly?: boolean;
  /** `alsoAs`: other content types the same status may come in (e.g. text/csv), documented as text. */
  responses?: Record<number, { description: string; schema?: z.ZodType; contentType?: string; alsoAs?: string[] }>;
}

/**
 * Every public route registers its spec here when its router is built; the same zod schema
 * validates the request and describes it in /openapi.json, so the two cannot drift apart.
 */
class OpenApiRegistry {
  private readonly ops = new Map<string, OperationSpec>();

  add(spec: OperationSpec) {
    this.ops.set(`${spec.method} ${spec.path}`, spec);
  }

  operations(): OperationSpec[] {
    return [...this.ops.values()];
  }

  document(serverUrl?: string) {
    const paths: Record<string, Record<string, unknown>> = {};
    for (const op of [...this.ops.values()].sort((a, b) => a.path.localeCompare(b.path))) {
      const path = toOpenApiPath(op.path);
      const params = [...op.path.matchAll(/:(\w+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
      if (op.query) {
        const js = jsonSchema(op.query) as { properties?: Record<string, unknown>; required?: string[] };
        for (const [name, schema] of Object.entries(js.properties ?? {})) {
          params.push({ name, in: 'query', required: (js.required ?? []).includes(name), schema: schema as never });
        }
      }
      const responses: Record<string, unknown> = {};
      for (const [status, r] of Object.entries(op.responses ?? { 200: { description: 'OK' } })) {
        const content: Record<string, unknown> = r.schema ? { [r.contentType ?? 'application/json']: { schema: jsonSchema(r.schema) } } : {};
        for (const ct of r.alsoAs ?? []) content[ct] = { schema: { type: 'string' } };
        responses[status] = Object.keys(content).length ? { description: r.description, content } : { description: r.description };
      }
      // The Messages API answers every error in Anthropic's shape (src/http/errors.ts decides by the same test).
      const errorSchema = speaksAnthropic(op.path) ? 'AnthropicError' : 'Error';
      responses.default = { description: 'Error', content: { 'application/json': { schema: { $ref: `#/components/schemas/${errorSchema}` } } } };
      const operation: Record<string, unknown> = {
        operationId: `${op.method}${path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(\w)/g, (_, c: string) => c.toUpperCase())}`,
        summary: op.summary,
        tags: [op.tag],
        parameters: params.length ? params : undefined,
        security: securityFor(op.auth),
        responses,
      };
      if (op.body) {
        const schema = jsonSchema(op.body);
        const form = op.files ? withFiles(schema, op.files) : schema;
        const content: Record<string, unknown> = op.multipartOnly ? { 'multipart/form-data': { schema: form } } : { 'application/json': { schema } };
        for (const ct of op.alsoAccepts ?? []) content[ct] = { schema: ct === 'multipart/form-data' ? form : schema };
        operation.requestBody = { required: true, content };
      }
      (paths[path] ??= {})[op.method] = operation;
    }
    return {
      openapi: '3.1.0',
      info: { title: 'Cheapa API', version: '1.0.0', description: 'OpenAI-compatible gateway with prepaid credit billing.' },
      servers: serverUrl ? [{ url: serverUrl }] : undefined,
      paths,
      components: {
        securitySchemes: {
          apiKey: { type: 'http', scheme: 'bearer', description: 'Your API key (sk-cheapa-…)' },
          adminToken: { type: 'http', scheme: 'bearer', description: 'The ADMIN_TOKEN' },
          consoleSession: { type: 'apiKey', in: 'cookie', name: 'cheapa_session', description: 'A console sign-in; state-changing requests also send x-csrf-token' },
        },
        schemas: {
          Error: {
            type: 'object',
            required: ['error'],
            properties: {
              error: {
                type: 'object',
                required: ['message', 'type', 'code', 'param'],
                properties: {
                  message: { type: 'string' },
                  type: { type: 'string' },
                  code: { type: ['string', 'null'] },
                  param: { type: ['string', 'null'] },
                },
              },
            },
          },
          AnthropicError: {
            type: 'object',
            required: ['type', 'error'],
            properties: {
              type: { const: 'error' },
              error: {
                type: 'object',
                required: ['type', 'message'],
                properties: { type: { type: 'string' }, message: { type: 'string' } },
              },
              request_id: { type: 'string' },
            },
          },
        },
      },
    };
  }
}

function securityFor(auth: Auth) {
  if (auth === 'api_key') return [{ apiKey: [] }];
  if (auth === 'admin') return [{ adminToken: [] }];
  if (auth === 'console_session') return [{ consoleSession: [] }];
  return [];
}

export function toOpenApiPath(path: string): string {
  return path.replace(/:(\w+)/g, '{$1}');
}

/** The body's schema with the upload fields added as binary strings (OpenAPI 3.1's way to describe a file). */
function withFiles(schema: unknown, files: NonNullable<OperationSpec['files']>): unknown {
  const s = schema as { properties?: Record<string, unknown>; required?: string[] };
  const properties = { ...s.properties };
  const required = [...(s.required ?? [])];
  for (const f of files) {
    const file = { type: 'string', contentMediaType: 'application/octet-stream', description: f.description };
    properties[f.name] = f.multiple ? { anyOf: [file, { type: 'array', items: file }] } : file;
    if (f.required) required.push(f.name);
  }
  return { ...s, properties, required };
}

function jsonSchema(schema: z.ZodType): unknown {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

export const openapi = new OpenApiRegistry();
