import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';

/** A process, and text of its command line that tells it apart from whatever reuses its pid later. */
export interface RecordedProcess {
  name: string;
  pid: number;
  marker: string;
}

/** What a launcher started, kept under DATA_DIR while it runs. */
export interface StackRecord {
  launcher: RecordedProcess;
  children: RecordedProcess[];
}

/**
 * The processes a launcher starts outlive it when it is killed outright (SIGKILL, the OOM killer,
 * an IDE's stop button): nothing runs its clean-up. Its embedded PostgreSQL would keep the cluster
 * and every later `npm start` would refuse to run. So the launcher records what it started, and the
 * next one stops what a dead launcher left, before it starts its own.
 */
export class Orphans {
  constructor(
    private readonly file: string,
    private readonly logger: Logger,
    /** How long a process gets to stop on SIGINT before it is killed. */
    private readonly graceMs = 15_000,
  ) {}

  /**
   * Stops the children of a launcher that is no longer running. Leaves everything alone while that
   * launcher runs (a second `npm start` on the same DATA_DIR fails as before, saying so), and any
   * process whose command line no longer carries its marker (its pid was reused). Only where the
   * command line can be read (Linux's /proc): elsewhere nothing is stopped.
   */
  async stop(): Promise<void> {
    const record = this.read();
    if (!record || running(record.launcher)) return;
    for (const child of record.children) {
      if (!running(child)) continue;
      this.logger.warn({ process: child.name, pid: child.pid }, 'stopping a process left running by a launcher that was killed');
      // SIGINT: PostgreSQL's fast shutdown, the Temporal CLI's clean stop.
      process.kill(child.pid, 'SIGINT');
      if (!(await exited(child.pid, this.graceMs))) {
        process.kill(child.pid, 'SIGKILL');
        await exited(child.pid, 5_000);
      }
    }
    this.clear();
  }

  /** Records what this launcher runs now; written whole, so a crash mid-write leaves the last record. */
  write(record: StackRecord): void {
    const temporary = `${this.file}.${process.pid}`;
    fs.writeFileSync(temporary, JSON.stringify(record), { mode: 0o600 });
    fs.renameSync(temporary, this.file);
  }

  /** After a clean stop there is nothing left to find. */
  clear(): void {
    fs.rmSync(this.file, { force: true });
  }

  private read(): StackRecord | undefined {
    try {
      return JSON.parse(fs.readFileSync(this.file, 'utf8')) as StackRecord;
    } catch {
      return undefined;
    }
  }
}

/** This process, as the launcher of the stack it records. */
export function thisLauncher(): RecordedProcess {
  return { name: 'launcher', pid: process.pid, marker: commandLine(process.pid) ?? '' };
}

function running(p: RecordedProcess): boolean {
  return commandLine(p.pid)?.includes(p.marker) ?? false;
}

function commandLine(pid: number): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return undefined;
  }
}

async function exited(pid: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!commandLine(pid)) return true; // gone, or a zombie (an empty command line) about to be reaped
    await sleep(100);
  }
  return false;
}
