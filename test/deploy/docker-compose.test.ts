/**
 * The production stack as docker-compose.yml and the Dockerfile describe it (Docker does not run
 * here, so the files themselves are read): issue 10's findings about the stack, one per test.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const ROOT = path.resolve(import.meta.dirname, '../..');
const compose = parse(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true });
const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
const services: Record<string, any> = compose.services;
const roles = ['migrate', 'api', 'worker'];

describe('docker-compose.yml', () => {
  it('runs Temporal from temporalio/server, with one-shot temporalio/admin-tools jobs for schema and namespace (no deprecated auto-setup)', () => {
    const images = Object.values(services).map((s) => String(s.image ?? ''));
    expect(images.some((i) => i.includes('auto-setup'))).toBe(false);
    expect(services.temporal.image).toMatch(/^temporalio\/server:/);
    expect(services['temporal-schema'].image).toMatch(/^temporalio\/admin-tools:/);
    expect(services['temporal-namespace'].image).toMatch(/^temporalio\/admin-tools:/);
    expect(services.temporal.depends_on['temporal-schema'].condition).toBe('service_completed_successfully');
    const setup = String(services['temporal-namespace'].command);
    for (const attr of ['CheapaAccountId', 'CheapaModel', 'CheapaKind', 'CheapaStatus']) expect(setup).toContain(attr);
  });

  it('publishes Temporal (7233) and its Web UI (8233) on loopback only', () => {
    const published = Object.values(services).flatMap((s) => (s.ports ?? []).map(String));
    for (const port of published.filter((p) => /(^|:)(7233|8233):/.test(p))) expect(port).toMatch(/^127\.0\.0\.1:/);
    expect(published.some((p) => p.startsWith('127.0.0.1:8233:'))).toBe(true);
  });

  it('runs every role of the service in production mode, with the required secrets demanded by ${VAR:?}', () => {
    for (const role of roles) expect(services[role].environment.NODE_ENV, role).toBe('production');
    const env = services.api.environment;
    expect(env.ADMIN_TOKEN).toMatch(/^\$\{ADMIN_TOKEN:\?/);
    expect(env.PUBLIC_URL).toMatch(/^\$\{PUBLIC_URL:\?/);
    expect(env.DATABASE_URL).toContain('${POSTGRES_PASSWORD:?');
    expect(services.postgres.environment.POSTGRES_PASSWORD).toMatch(/^\$\{POSTGRES_PASSWORD:\?/);
    // No sandbox in production: SANDBOXES is not set for any role.
    for (const role of roles) expect(services[role].environment.SANDBOXES, role).toBeUndefined();
    expect(JSON.stringify(compose)).not.toMatch(/:-cheapa\}/);
  });

  it('migrates once, in a one-shot job that the api and worker wait for', () => {
    expect(services.migrate.command).toContain('migrate');
    expect(services.migrate.restart).toBe('no');
    for (const role of ['api', 'worker']) expect(services[role].depends_on.migrate.condition, role).toBe('service_completed_successfully');
  });

  it('gives the worker role a health check on its own HTTP listener', () => {
    expect(services.worker.command).toContain('worker');
    expect(JSON.stringify(services.worker.healthcheck.test)).toContain('/readyz');
  });
});

describe('Dockerfile', () => {
  it('uses a current LTS Node (24), not end-of-life Node 20', () => {
    const major = Number(/^FROM node:(\d+)/m.exec(dockerfile)?.[1]);
    expect(major).toBeGreaterThanOrEqual(24);
    expect(major % 2).toBe(0);
  });

  it('sets NODE_ENV=production and makes /data exist, owned by the runtime user', () => {
    expect(dockerfile).toMatch(/^ENV NODE_ENV=production$/m);
    const user = /^USER (\S+)$/m.exec(dockerfile)?.[1];
    expect(user).toBe('node');
    expect(dockerfile).toMatch(new RegExp(`mkdir -p /data && chown ${user}:${user} /data`));
    expect(dockerfile.indexOf('chown')).toBeLessThan(dockerfile.indexOf(`USER ${user}`));
  });
});
