import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ManagedProcess, type UnexpectedExit } from '../../../faults/stack/process.js';

// The fault suite must name a role that died on its own, not only report that the service "did not recover".
describe('ManagedProcess (a process of the fault topology)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'managed-process-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const node = (name: string, script: string) =>
    new ManagedProcess({ name, command: process.execPath, args: ['-e', script], logFile: path.join(dir, `${name}.log`) });

  it('records an exit the suite did not cause, with its code, and tells its supervisor', async () => {
    const proc = node('crashes', 'setTimeout(() => process.exit(3), 50)');
    const told: UnexpectedExit[] = [];
    proc.onUnexpectedExit = (exit) => told.push(exit);
    proc.start();
    await proc.whenExited();
    expect(proc.unexpectedExits).toMatchObject([{ name: 'crashes', code: 3, signal: null, logFile: path.join(dir, 'crashes.log') }]);
    expect(told).toEqual(proc.unexpectedExits);
  });

  it('records a death by a signal sent from outside the suite', async () => {
    const proc = node('killed-outside', 'setInterval(() => {}, 1000)');
    proc.start();
    process.kill(proc.pid!, 'SIGKILL');
    await proc.whenExited();
    expect(proc.unexpectedExits).toMatchObject([{ name: 'killed-outside', signal: 'SIGKILL' }]);
  });

  it('does not count the kills, stops and announced exits the suite makes itself, across restarts', async () => {
    const proc = node('faulted', 'setInterval(() => {}, 1000)');
    proc.onUnexpectedExit = () => expect.unreachable('a kill by the suite is not a crash');
    proc.start();
    await proc.kill();
    await proc.restart();
    expect(proc.running).toBe(true);
    proc.expectExit();
    process.kill(proc.pid!, 'SIGQUIT');
    await proc.whenExited();
    proc.start();
    await proc.stop();
    expect(proc.unexpectedExits).toEqual([]);
    expect(proc.restarts).toBe(1);
  });
});
