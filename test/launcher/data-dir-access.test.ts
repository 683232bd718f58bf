import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { planTraversal } from '../../src/launcher/data-dir-access.js';
import { startEmbeddedPostgres } from '../../src/launcher/embedded-postgres.js';

const PG = { uid: 101, gids: [104] };
const dir = (p: string, mode: number, uid = 0, gid = 0) => ({ path: p, uid, gid, mode });

describe('a DATA_DIR the embedded PostgreSQL user cannot enter', () => {
  it('hands our directories that shut the postgres user out to its group, search only', () => {
    const plan = planTraversal([dir('/', 0o755), dir('/tmp', 0o1777), dir('/tmp/tmp.abc', 0o700), dir('/tmp/tmp.abc/postgres', 0o755)], PG, (p) => p.startsWith('/tmp/tmp.abc'));
    expect(plan).toEqual({ ok: true, regroup: ['/tmp/tmp.abc'] });
  });

  it('leaves alone what the user can already enter', () => {
    expect(planTraversal([dir('/', 0o755), dir('/srv', 0o711), dir('/srv/data', 0o710, 0, 104)], PG, () => true)).toEqual({ ok: true, regroup: [] });
  });

  it('changes nothing above DATA_DIR, and says in one line what to do', () => {
    const plan = planTraversal([dir('/', 0o755), dir('/root', 0o700), dir('/root/data', 0o700)], PG, (p) => p.startsWith('/root/data'));
    expect(plan.ok).toBe(false);
    if (!plan.ok) {
      expect(plan.message).toMatch(/cannot enter \/root: run `chmod o\+x \/root`, or set DATA_DIR to a directory outside it/);
      expect(plan.message).not.toContain('\n');
    }
  });

  it('starts the embedded server in a mode-0700 directory made by mktemp -d', async () => {
    const dataDir = execFileSync('mktemp', ['-d'], { encoding: 'utf8' }).trim();
    try {
      expect(fs.statSync(dataDir).mode & 0o777).toBe(0o700);
      const server = await startEmbeddedPostgres({ dir: path.join(dataDir, 'postgres'), logger: pino({ level: 'silent' }) });
      try {
        const client = new pg.Client({ connectionString: server.url });
        await client.connect();
        expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
        await client.end();
      } finally {
        await server.stop();
      }
      if (process.getuid?.() === 0) {
        // Only the postgres group gained anything, and only search: others still cannot enter or list.
        const st = fs.statSync(dataDir);
        expect(st.mode & 0o777).toBe(0o710);
        expect(st.gid).toBe(Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim()));
      }
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

