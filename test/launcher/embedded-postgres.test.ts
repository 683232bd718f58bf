import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type RunningPostgres } from '../../src/launcher/embedded-postgres.js';

describe('the embedded PostgreSQL', () => {
  let dir: string;
  let server: RunningPostgres;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cheapa-pg-socket-'));
    fs.chmodSync(dir, 0o755);
    server = await startEmbeddedPostgres({ dir: path.join(dir, 'postgres'), logger: pino({ level: 'silent' }) });
  });
  afterAll(async () => {
    await server?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const serverAddress = async (url: string) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query('SELECT inet_server_addr() AS addr, current_database() AS db')).rows[0];
    } finally {
      await client.end();
    }
  };

  it('serves the same database over a Unix-domain socket in its cluster directory and over loopback TCP', async () => {
    expect(server.socketUrl).toBeDefined();
    // A socket connection has no server address.
    expect(await serverAddress(server.socketUrl!)).toEqual({ addr: null, db: 'cheapa' });
    expect(await serverAddress(server.url)).toEqual({ addr: '127.0.0.1', db: 'cheapa' });
    const socketDir = new URL(server.socketUrl!).searchParams.get('host')!;
    expect(socketDir).toBe(path.join(dir, 'postgres', 'cluster'));
    expect(fs.readdirSync(socketDir).some((f) => f.startsWith('.s.PGSQL.'))).toBe(true);
  });

  it('falls back to TCP alone where a socket path would be too long for the kernel', async () => {
    const deep = fs.mkdtempSync(path.join(os.tmpdir(), 'cheapa-pg-deep-'));
    fs.chmodSync(deep, 0o755);
    const long = path.join(deep, 'x'.repeat(90));
    fs.mkdirSync(long, { mode: 0o755 });
    const other = await startEmbeddedPostgres({ dir: path.join(long, 'postgres'), logger: pino({ level: 'silent' }) });
    try {
      expect(other.socketUrl).toBeUndefined();
      expect(await serverAddress(other.url)).toEqual({ addr: '127.0.0.1', db: 'cheapa' });
    } finally {
      await other.stop();
      fs.rmSync(deep, { recursive: true, force: true });
    }
  });

  it('leaves SIGTERM to its process: a drain that still uses the database finishes before the server stops', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'cheapa-pg-drain-'));
    fs.chmodSync(home, 0o755);
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./drain-process.ts', import.meta.url)), path.join(home, 'postgres')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (b) => (output += b));
    child.stderr!.on('data', (b) => (output += b));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', () => output.includes('ready') && resolve());
        void exited.then(() => reject(new Error(`exited before it was ready:\n${output}`)));
      });
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(output).toContain('drained 1');
    } finally {
      child.kill('SIGKILL');
      fs.rmSync(home, { recursive: true, force: true });
    }
  }, 60_000);
});
