import type { Services } from '../services.js';

/**
 * A workflow's page in the Temporal Web UI (TEMPORAL_UI_URL), or null when no UI is known. For
 * the admin API and the ops view only: customers' answers never link into the operators' UI.
 */
export function workflowUrl(services: Pick<Services, 'temporal'>, workflowId: string): string | null {
  const ui = services.temporal.uiUrl;
  return ui ? `${ui}/namespaces/${encodeURIComponent(services.temporal.namespace)}/workflows/${encodeURIComponent(workflowId)}` : null;
}
