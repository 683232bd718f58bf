import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';

// The client side of chatCaptureWorkflow: a charge that could not be written in-process is handed
// to Temporal, whose activity retries it until the database takes it. The workflow id is the hold's,
// so a second hand-off of the same charge is refused by Temporal itself.

/** A charge of a delivered answer, in a form that survives JSON (Temporal's payloads). */
export interface CaptureOrder {
  holdId: string;
  accountId: string;
  /** Nano-dollars, as a decimal string. */
  amount: string;
  requestId: string;
  /**
   * A charge against a chat allowance (no hold row): the lease it was taken under and its key. Then
   * `holdId` only names the workflow (`allowance-<request id>`).
   */
  leaseId?: string;
  idempotencyKey?: string;
}

export const chatCaptureWorkflowId = (holdId: string) => `chat-capture-${holdId}`;

/** What names a charge against a chat allowance where a hold's id would (`CaptureOrder.holdId`). */
export const allowanceCaptureName = (requestId: string) => `allowance-${requestId}`;

export type HandOff = (order: CaptureOrder) => Promise<void>;

export function temporalHandOff(client: Client, taskQueue: string): HandOff {
  return async (order) => {
    try {
      await client.workflow.start('chatCaptureWorkflow', {
        workflowId: chatCaptureWorkflowId(order.holdId),
        taskQueue,
        args: [order],
      });
    } catch (error) {
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    }
  };
}

/** Whether a capture of this hold was handed to Temporal (running or done): the sweeper must leave it alone. */
export async function captureHandedOff(client: Client, holdId: string): Promise<boolean> {
  try {
    await client.workflow.getHandle(chatCaptureWorkflowId(holdId)).describe();
    return true;
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return false;
    throw error;
  }
}
