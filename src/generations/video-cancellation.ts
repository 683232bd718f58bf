import type { Services } from '../services.js';
import { cancelGenerationWorkflow } from './generation-client.js';
import type { GenerationRecord } from './generation-repository.js';

/** The provider has accepted the video job and bills us for it: it can no longer be cancelled for free. */
export class VideoAlreadyAccepted extends Error {
  override readonly name = 'VideoAlreadyAccepted';
  constructor(readonly generationId: string) {
    super(`Video '${generationId}' is already rendering at the provider, which bills it: it is charged $0.21 when delivered. Delete it once it has completed or failed.`);
  }
}

/**
 * Cancelling is free only before the provider accepted the job. Once it did (the row is in_progress) the
 * cancel is refused. A cancel that races the submission is decided by the workflow itself: once it has
 * begun submitting it ignores the cancel, finishes the job and charges it on delivery.
 */
export async function cancelVideo(services: Pick<Services, 'temporal'>, record: GenerationRecord): Promise<void> {
  if (record.status === 'in_progress') throw new VideoAlreadyAccepted(record.id);
  if (record.status === 'queued') await cancelGenerationWorkflow(services.temporal, record.id);
}
