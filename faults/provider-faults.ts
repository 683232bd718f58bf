import express, { type Router } from 'express';

/**
 * How a provider misbehaves on demand, set over `PUT /_faults {mode, path?}` by the suite:
 * `reset` closes the socket after the first bytes (mid-stream), `http500`/`http429` answer with that
 * status, `hang` never answers, `lose` answers 404 as a provider that forgot the object would.
 * `path` (a regular expression) limits the fault to matching requests.
 */
export type FaultMode = 'ok' | 'reset' | 'http500' | 'http429' | 'hang' | 'lose';

export function providerFaults(): { control: Router; inject: express.RequestHandler } {
  let mode: FaultMode = 'ok';
  let only: RegExp | undefined;
  const hung = new Set<express.Response>();
  const control = express.Router();
  control.put('/_faults', express.json(), (req, res) => {
    mode = (req.body?.mode as FaultMode) ?? 'ok';
    only = typeof req.body?.path === 'string' ? new RegExp(req.body.path) : undefined;
    // Ending a hang lets the held requests fail as a dropped connection would.
    if (mode !== 'hang') for (const r of hung) r.socket?.destroy();
    hung.clear();
    res.json({ mode, path: only?.source ?? null });
  });
  const inject: express.RequestHandler = (req, res, next) => {
    if (mode === 'ok' || req.path.startsWith('/_') || (only && !only.test(req.path))) return next();
    switch (mode) {
      case 'http500':
        return void res.status(500).json({ error: { message: 'injected fault', type: 'server_error', code: null, param: null } });
      case 'http429':
        return void res.status(429).set('retry-after', '1').json({ error: { message: 'injected rate limit', type: 'rate_limit_error', code: null, param: null } });
      case 'hang':
        hung.add(res);
        return;
      case 'lose':
        return void res.status(404).json({ error: { code: 404, message: 'Requested entity was not found.', status: 'NOT_FOUND' } });
      case 'reset': {
        const write = res.write.bind(res);
        let written = 0;
        res.write = ((chunk: unknown, ...rest: unknown[]) => {
          const ok = (write as (...a: unknown[]) => boolean)(chunk, ...rest);
          if (++written >= 2) setImmediate(() => res.socket?.destroy());
          return ok;
        }) as typeof res.write;
        // A non-streamed answer is one end(): cut it before it completes.
        const end = res.end.bind(res);
        res.end = ((...args: unknown[]) => {
          if (written < 2) {
            res.socket?.destroy();
            return res;
          }
          return (end as (...a: unknown[]) => express.Response)(...args);
        }) as typeof res.end;
        return next();
      }
    }
  };
  return { control, inject };
}
