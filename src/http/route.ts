import type { Request, Response, Router } from 'express';
import type { z } from 'zod';
import { fromZod } from './errors.js';
import { assertNoNul } from './input-guards.js';
import { openapi, type OperationSpec } from './openapi.js';

type Infer<T> = T extends z.ZodType ? z.output<T> : undefined;

export interface RouteInput<B, Q> {
  body: B;
  query: Q;
  params: Record<string, string>;
}

/**
 * Declares one endpoint: registers its spec in the OpenAPI document and mounts a handler that
 * only ever sees validated input. Invalid input (a NUL character included, which PostgreSQL text cannot hold) is a 400 before the
 * handler runs, so it changes nothing.
 */
export function defineRoute<S extends OperationSpec>(
  router: Router,
  spec: S,
  handler: (input: RouteInput<Infer<S['body']>, Infer<S['query']>>, req: Request, res: Response) => Promise<unknown> | unknown,
) {
  openapi.add(spec);
  router[spec.method](spec.path, async (req, res) => {
    let body: unknown = undefined;
    let query: unknown = undefined;
    if (spec.body) {
      const parsed = spec.body.safeParse(req.body ?? {});
      if (!parsed.success) throw fromZod(parsed.error, 'body');
      assertNoNul(parsed.data, 'body');
      body = parsed.data;
    }
    if (spec.query) {
      const parsed = spec.query.safeParse(req.query ?? {});
      if (!parsed.success) throw fromZod(parsed.error, 'query');
      assertNoNul(parsed.data, 'query');
      query = parsed.data;
    }
    await handler({ body, query, params: req.params as Record<string, string> } as never, req, res);
  });
}
