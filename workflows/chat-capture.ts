import { proxyActivities } from '@temporalio/workflow';
import type { createChatActivities } from '../src/chat/chat-activities.js';
import type { CaptureOrder } from '../src/chat/durable-capture.js';

const { captureChatHold } = proxyActivities<ReturnType<typeof createChatActivities>>({
  startToCloseTimeout: '30 seconds',
  // No attempt limit: the answer was delivered, so its charge is retried until the database takes it.
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/**
 * The charge of a delivered chat answer that the API could not write in-process (a database blip
 * outlasting its retries). Started by src/chat/durable-capture.ts with the hold's id as workflow id;
 * the hold sweeper leaves a hold with such a workflow alone.
 */
export async function chatCaptureWorkflow(order: CaptureOrder): Promise<void> {
  await captureChatHold(order);
}
