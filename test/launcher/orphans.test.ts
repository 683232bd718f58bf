import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Orphans, type RecordedProcess } from '../../src/launcher/orphans.js';

const logger = pino({ level: 'silent' });
const started: ChildProcess[] = [];

/** A real process that runs until stopped; `marker` is in its command line. `stubborn` ignores SIGINT. */
async function processWith(marker: string, stubborn = false): Promise<RecordedProcess & { exited: Promise<void> }> {
  const code = `${stubborn ? "process.on('SIGINT', () => {});" : ''} setInterval(() => {}, 1000); console.log('up')`;
  const child = spawn(process.execPath, ['-e', code, marker], { stdio: ['ignore', 'pipe', 'ignore'] });
  started.push(child);
  await new Promise((resolve) => child.stdout!.once('data', resolve));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { name: marker, pid: child.pid!, marker, exited };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8') !== '';
  } catch {
    return false;
  }
}

function recordFile(): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cheapa-orphans-')), 'stack.json');
}

const mark = (what: string) => `${what}-${randomBytes(6).toString('hex')}`;

afterEach(() => {
  for (const child of started.splice(0)) child.kill('SIGKILL');
});

describe('processes a killed launcher left running', () => {
  it('are stopped by the next launcher; a pid now running something else is left alone', async () => {
    const launcher = await processWith(mark('launcher'));
    const database = await processWith(mark('postgres'));
    const bystander = await processWith(mark('bystander'));
    const file = recordFile();
    const orphans = new Orphans(file, logger);
    // The bystander's pid recorded with another command line: as if the recorded process had died and its pid been reused.
    orphans.write({ launcher, children: [database, { name: 'temporal', pid: bystander.pid, marker: mark('temporal') }] });

    process.kill(launcher.pid, 'SIGKILL');
    await launcher.exited;
    await orphans.stop();

    await database.exited;
    expect(alive(database.pid)).toBe(false);
    expect(alive(bystander.pid)).toBe(true);
    expect(fs.existsSync(file)).toBe(false);
  });

  it('are left alone while their launcher runs', async () => {
    const launcher = await processWith(mark('launcher'));
    const database = await processWith(mark('postgres'));
    const file = recordFile();
    const orphans = new Orphans(file, logger);
    orphans.write({ launcher, children: [database] });

    await orphans.stop();

    expect(alive(database.pid)).toBe(true);
    expect(fs.existsSync(file)).toBe(true);
  });

  it('are killed when they do not stop on SIGINT within the grace period', async () => {
    const launcher = await processWith(mark('launcher'));
    const stubborn = await processWith(mark('temporal'), true);
    const orphans = new Orphans(recordFile(), logger, 300);
    orphans.write({ launcher, children: [stubborn] });
    process.kill(launcher.pid, 'SIGKILL');
    await launcher.exited;

    await orphans.stop();

    await stubborn.exited;
    expect(alive(stubborn.pid)).toBe(false);
  });

  it('leave nothing to do after a clean stop, or with no record at all', async () => {
    const database = await processWith(mark('postgres'));
    const file = recordFile();
    const orphans = new Orphans(file, logger);
    orphans.write({ launcher: { name: 'launcher', pid: 1, marker: mark('gone') }, children: [database] });
    orphans.clear();
    await orphans.stop();
    await new Orphans(recordFile(), logger).stop();
    expect(alive(database.pid)).toBe(true);
  });
});
