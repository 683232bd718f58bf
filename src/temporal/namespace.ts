import { Connection } from '@temporalio/client';
import { ALL_SEARCH_ATTRIBUTES } from './search-attributes.js';

/**
 * Makes sure a configured (non-embedded) Temporal has our namespace's search attributes.
 * The dev server gets them from its command line; a real cluster gets them once, here.
 */
export async function ensureSearchAttributes(address: string, namespace: string): Promise<void> {
  const conn = await Connection.connect({ address });
  try {
    const existing = await conn.operatorService.listSearchAttributes({ namespace });
    const missing = ALL_SEARCH_ATTRIBUTES.filter((a) => !(a.name in (existing.customAttributes ?? {})));
    if (!missing.length) return;
    await conn.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map((a) => [a.name, 2 /* INDEXED_VALUE_TYPE_KEYWORD */])),
    });
  } finally {
    await conn.close();
  }
}
