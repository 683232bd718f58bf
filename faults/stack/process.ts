import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';

export interface ProcessSpec {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Every line the process prints goes here (appended across restarts). */
  logFile: string;
  /** Run as this user (PostgreSQL refuses to run as root). */
  uid?: number;
  gid?: number;
}

/** A process that ended without the suite having killed or stopped it: a crash the report names. */
export interface UnexpectedExit {
  name: string;
  at: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  logFile: string;
}

/**
 * One OS process of the topology that the fault suite can kill, pause and restart like an
 * operator's supervisor would (systemd, docker restart policy), keeping one log file across lives.
 * Every exit the suite did not cause itself is recorded and handed to `onUnexpectedExit`.
 */
export class ManagedProcess {
  private child?: ChildProcess;
  private exited?: Promise<number | null>;
  /** Set before the suite kills or stops this life, so its exit is not taken for a crash. */
  private exitExpected = false;
  restarts = 0;
  readonly unexpectedExits: UnexpectedExit[] = [];
  onUnexpectedExit?: (exit: UnexpectedExit) => void;

  constructor(readonly spec: ProcessSpec) {}

  get pid(): number | undefined {
    return this.child?.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  get running(): boolean {
    return this.pid !== undefined;
  }

  start(): void {
    if (this.running) throw new Error(`${this.spec.name} is already running`);
    const log = fs.openSync(this.spec.logFile, 'a');
    fs.writeSync(log, `\n=== ${new Date().toISOString()} start ${this.spec.name} (life ${this.restarts + 1}) ===\n`);
    const child = spawn(this.spec.command, this.spec.args, {
      cwd: this.spec.cwd,
      env: this.spec.env,
      stdio: ['ignore', log, log],
      uid: this.spec.uid,
      gid: this.spec.gid,
    });
    fs.closeSync(log);
    this.child = child;
    this.exitExpected = false;
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        if (!this.exitExpected) {
          const exit = { name: this.spec.name, at: Date.now(), code, signal, logFile: this.spec.logFile };
          this.unexpectedExits.push(exit);
          this.onUnexpectedExit?.(exit);
        }
        resolve(code);
      }),
    );
  }

  /** The suite is about to end this life itself (a signal sent by other means, e.g. PostgreSQL's SIGQUIT). */
  expectExit(): void {
    this.exitExpected = true;
  }

  /** SIGKILL (a crash), then wait until the OS has reaped it. */
  async kill(): Promise<void> {
    if (!this.child || !this.running) return;
    this.exitExpected = true;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM and wait for a clean exit; SIGKILL after `graceMs`. */
  async stop(graceMs = 15_000): Promise<void> {
    if (!this.child || !this.running) return;
    this.exitExpected = true;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  pause(): void {
    if (this.pid) process.kill(this.pid, 'SIGSTOP');
  }

  resume(): void {
    if (this.pid) process.kill(this.pid, 'SIGCONT');
  }

  async restart(): Promise<void> {
    await this.kill();
    this.restarts++;
    this.start();
  }

  /** Resolves when the process exits (a crash during start-up shows up here). */
  whenExited(): Promise<number | null> {
    return this.exited ?? Promise.resolve(null);
  }
}

/**
 * How much the machine's run queue stretches the time our own processes need to start: the 1-minute
 * load average per core, at least 1 (at most 8). On a shared 2-core machine at load 16 a role that
 * takes 40 s to compile and connect takes minutes; a stuck one never starts however long it is given.
 * Only the suite's own waits are stretched by it (a role starting, the service coming back after a
 * fault, workflows draining); the deadlines the service must answer its clients by are not.
 */
export function loadStretch(): number {
  return Math.min(8, Math.max(1, os.loadavg()[0]! / os.cpus().length));
}

/** Polls until `probe` resolves true, failing early if `proc` dies, or after `timeoutMs` stretched by the load. */
export async function waitUntil(what: string, probe: () => Promise<boolean>, opts: { timeoutMs: number; proc?: ManagedProcess }): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < opts.timeoutMs * loadStretch()) {
    if (opts.proc && !opts.proc.running) throw new Error(`${what}: ${opts.proc.spec.name} exited (see ${opts.proc.spec.logFile})`);
    if (await probe().catch(() => false)) return Date.now() - t0;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what}: not ready after ${Date.now() - t0} ms (${opts.timeoutMs} ms stretched by a load of ${os.loadavg()[0]!.toFixed(1)})`);
}

export async function httpOk(url: string, timeoutMs = 2_000): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  await res.arrayBuffer();
  return res.ok;
}
