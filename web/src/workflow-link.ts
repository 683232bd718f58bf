import { esc } from './dom.js';

/** A workflow's id, linked to its page in the Temporal Web UI when the API gave one (ops view only). */
export const workflowLink = (url: string | null | undefined, id: string | null | undefined) =>
  !id ? '' : url ? `<a href="${esc(url)}" target="_blank" rel="noopener">${esc(id)}</a>` : esc(id);
