import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import { workerHealthApp } from '../../src/http/routes/health.js';
import { startHarness, type Harness } from '../support/harness.js';

describe('health and readiness', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ worker: false });
  });
  afterAll(async () => h?.close());

  it('answers 503 on /readyz until a worker polls the task queue, then 200', async () => {
    expect((await h.call('GET', '/healthz')).status).toBe(200);
    const before = await h.admin('GET', '/readyz');
    expect(before.status).toBe(503);
    const body = await before.json();
    expect(body.checks.database.ok).toBe(true);
    expect(body.checks.temporal.ok).toBe(true);
    expect(body.checks.worker.ok).toBe(false);

    await h.startWorker();
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      status = (await h.call('GET', '/readyz')).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 200));
    }
    expect(status).toBe(200);
  });

  it('answers the public /readyz with its status word only, and ops (admin token) with every check and part', async () => {
    const pub = await (await h.call('GET', '/readyz')).json();
    expect(Object.keys(pub)).toEqual(['status']);
    const ops = await (await h.admin('GET', '/readyz')).json();
    expect(ops).toMatchObject({ mode: 'development', disabled: [], sandboxed: ['card', 'crypto', 'chat', 'media'] });
    expect(ops.checks.database).toEqual({ ok: true });
  });

  it('serves Prometheus metrics to ops only', async () => {
    expect((await h.call('GET', '/metrics')).status).toBe(401);
    const { key } = await h.createAccount();
    expect((await h.call('GET', '/metrics', { key })).status).toBe(401);
    const res = await h.admin('GET', '/metrics');
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('cheapa_http_request_duration_seconds');
  });

  it('gives the worker role its own listener: ready while its worker runs, not ready once it stops, metrics for ops only', async () => {
    let running = true;
    const server = workerHealthApp(h.services, () => running).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      running = false;
      const stopped = await fetch(`${base}/readyz`);
      expect(stopped.status).toBe(503);
      expect(await stopped.json()).toEqual({ status: 'not_ready' });
      expect((await fetch(`${base}/metrics`)).status).toBe(401);
      expect((await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${h.adminToken}` } })).status).toBe(200);
    } finally {
      server.close();
    }
  });

  it('answers unknown URLs with an OpenAI-shaped 404 and a request id', async () => {
    const res = await h.call('GET', '/nope');
    expect(res.status).toBe(404);
    expect(res.headers.get('x-request-id')).toMatch(/^req_/);
    expect((await res.json()).error).toMatchObject({ type: 'invalid_request_error', code: 'unknown_url', param: null });
  });
});
