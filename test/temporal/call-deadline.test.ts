import { executionAsyncId } from 'node:async_hooks';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { settleCallContext, withCallDeadline } from '../../src/temporal/call-deadline.js';

// With V8's promise hooks on, every promise gets an async id of its own; with them off, promise
// callbacks run in the id of whatever drained the microtask queue. Two awaited promises in a row
// tell the two apart.
async function promiseHooksOn(): Promise<boolean> {
  const first = await Promise.resolve().then(() => executionAsyncId());
  const second = await Promise.resolve().then(() => executionAsyncId());
  return first !== second;
}

let connection: Connection;
let client: Client;

beforeAll(async () => {
  connection = await Connection.connect({ address: inject('temporalAddress') });
  client = new Client({ connection, namespace: inject('temporalNamespace') });
});
afterAll(() => connection.close());

describe('Temporal calls with a deadline', () => {
  it('leave no promise hooks on after connecting once the call context is settled', async () => {
    // Connecting ran the client's call-context storage, which switched the hooks on.
    expect(await promiseHooksOn()).toBe(true);
    settleCallContext(connection);
    expect(await promiseHooksOn()).toBe(false);
  });

  it('apply the deadline inside the scope, and switch the hooks off when the last overlapping scope ends', async () => {
    const expired = await withCallDeadline(client, Date.now() - 1, () => client.workflowService.getSystemInfo({})).catch((err: unknown) => err);
    expect(String((expired as Error).message)).toMatch(/deadline/i);
    expect(await promiseHooksOn()).toBe(false);

    let releaseFirst!: () => void;
    const first = withCallDeadline(client, Date.now() + 10_000, async () => {
      await client.workflowService.getSystemInfo({});
      await new Promise<void>((resolve) => (releaseFirst = resolve));
    });
    await withCallDeadline(client, Date.now() + 10_000, () => client.workflowService.getSystemInfo({}));
    // The first scope is still open: its later calls still need their deadline.
    expect(await promiseHooksOn()).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 50));
    releaseFirst();
    await first;
    expect(await promiseHooksOn()).toBe(false);
  });
});
