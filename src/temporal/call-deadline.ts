import type { Client, Connection } from '@temporalio/client';

/**
 * Temporal client calls bounded by a deadline, without leaving promise hooks on behind them.
 *
 * The client keeps a call's deadline in an AsyncLocalStorage. On Node 20 the first `run()` of any
 * AsyncLocalStorage switches on V8's promise hooks for the whole process, and they stay on until
 * every storage is disabled again: from then on each promise of every request pays a hook. The
 * client runs its storage when it connects (a deadline on the first health check) and in each
 * `withDeadline`, so an API process paid that on the chat path for good (about 5 % of its
 * throughput at 32 clients; BENCHMARKS.md, 2026-12-01 afternoon). The storage is therefore
 * disabled after connecting and whenever the last deadline scope on the connection has ended;
 * calls outside a scope read no context from it, which is what they would read anyway.
 */
const open = new WeakMap<object, number>();

/** After Connection.connect: nothing needs the call context until the next deadline scope. */
export function settleCallContext(connection: Connection): void {
  if (!open.get(connection)) connection.callContextStorage.disable();
}

/** `client.withDeadline`, then the connection's call context released once no scope is open. */
export async function withCallDeadline<T>(client: Client, deadline: number, fn: () => Promise<T>): Promise<T> {
  const connection = client.connection as Connection;
  open.set(connection, (open.get(connection) ?? 0) + 1);
  try {
    return await client.withDeadline(deadline, fn);
  } finally {
    const left = open.get(connection)! - 1;
    open.set(connection, left);
    if (left === 0 && connection.callContextStorage) connection.callContextStorage.disable();
  }
}
