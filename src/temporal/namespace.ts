import { Connection } from '@temporalio/client';
import type { Logger } from 'pino';
import type { TemporalConnectionOptions } from './connection-options.js';
import { ALL_SEARCH_ATTRIBUTES } from './search-attributes.js';

export type SearchAttributesOutcome = { ok: true; added: string[] } | { ok: false; reason: string };

/**
 * Makes sure a configured (non-embedded) Temporal has our namespace's search attributes.
 * The dev server gets them from its command line; a real cluster gets them once, here. A cluster
 * may refuse (Temporal Cloud, or a role without operator rights, where ops register them with
 * `temporal operator search-attribute create` or the admin-tools job): that is a log line, not a
 * reason to stop, since workflows run without them and only the Web UI's filters need them.
 */
export async function ensureSearchAttributes(
  target: string | TemporalConnectionOptions,
  namespace: string,
  logger?: Pick<Logger, 'warn'>,
): Promise<SearchAttributesOutcome> {
  const conn = await Connection.connect(typeof target === 'string' ? { address: target } : target);
  try {
    const existing = await conn.operatorService.listSearchAttributes({ namespace });
    const missing = ALL_SEARCH_ATTRIBUTES.filter((a) => !(a.name in (existing.customAttributes ?? {})));
    if (missing.length) {
      await conn.operatorService.addSearchAttributes({
        namespace,
        searchAttributes: Object.fromEntries(missing.map((a) => [a.name, 2 /* INDEXED_VALUE_TYPE_KEYWORD */])),
      });
    }
    return { ok: true, added: missing.map((a) => a.name) };
  } catch (err) {
    const reason = (err as Error).message;
    logger?.warn(
      { namespace, reason, attributes: ALL_SEARCH_ATTRIBUTES.map((a) => a.name) },
      'could not register search attributes; the service runs without them (register them with the admin tools for the Web UI filters)',
    );
    return { ok: false, reason };
  } finally {
    await conn.close();
  }
}
