import { WithStartWorkflowOperation, WorkflowExecutionAlreadyStartedError, WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { generationWorkflow, placeHoldUpdate } from '../../workflows/generation.js';
import type { Services } from '../services.js';
import { AccountIdAttr, KindAttr, ModelAttr, StatusAttr } from '../temporal/search-attributes.js';
import type { GenerationInput, GenerationResult, HoldOutcome } from './generation-types.js';
import { withCallDeadline } from '../temporal/call-deadline.js';

// Everything the service says to Temporal about a generation: its workflow id, how it starts, how its
// result is awaited and how it is cancelled. Callers see domain values and errors, never gRPC codes.

/** The business id is the workflow id, so Temporal itself refuses a second run of one generation. */
export const generationWorkflowId = (generationId: string) => `generation-${generationId}`;

/**
 * Images have a task queue of their own (see imageWorkerOptions in src/temporal/worker.ts: their workflow
 * task stays open while the pictures are drawn); videos share the service's queue.
 */
export const imageTaskQueue = (taskQueue: string) => `${taskQueue}-images`;

/** The hold of generation `id` is found by this key, even by code that never learnt the hold's id. */
export const generationHoldKey = (generationId: string) => `generation:${generationId}:hold`;

/** Temporal did not confirm the start (or the hold) in time, or at all; the generation was cancelled, nothing is charged. */
export class GenerationUnavailable extends Error {
  override readonly name = 'GenerationUnavailable';
  constructor(
    readonly generationId: string,
    override readonly cause: unknown,
  ) {
    super(`generation ${generationId} could not be started: ${(cause as Error)?.message ?? String(cause)}`);
  }
}

/** The result was not ready within the wait; the workflow goes on and settles by itself. */
export class GenerationStillRunning extends Error {
  override readonly name = 'GenerationStillRunning';
  constructor(readonly generationId: string) {
    super(`generation ${generationId} is still running`);
  }
}

const GRPC_DEADLINE_EXCEEDED = 4;

type Temporal = Services['temporal'];

function startOptions(temporal: Temporal, input: GenerationInput) {
  return {
    workflowId: generationWorkflowId(input.generationId),
    taskQueue: input.kind === 'image' ? imageTaskQueue(temporal.taskQueue) : temporal.taskQueue,
    args: [input] as [GenerationInput],
    workflowIdConflictPolicy: 'USE_EXISTING' as const,
    // A finished generation is never run again under its id, whatever a retry asks.
    workflowIdReusePolicy: 'REJECT_DUPLICATE' as const,
    typedSearchAttributes: [
      { key: AccountIdAttr, value: input.accountId },
      { key: ModelAttr, value: input.model },
      { key: KindAttr, value: input.kind },
      // As the row says until the run writes its outcome (an image in one task writes nothing between).
      { key: StatusAttr, value: 'queued' },
    ],
  };
}

/**
 * An image: starts the workflow with the hold-placing update in one call (update-with-start) and returns
 * the hold's outcome, or null when a run under this id has already finished. The image is drawn in the
 * same workflow task, so a worker must be there: without one the caller hears so within `waitMs` instead
 * of waiting out the image's deadline. A retry lands on the same workflow and update. If Temporal does
 * not answer in time the run is cancelled (which releases any hold it placed) and GenerationUnavailable
 * is thrown.
 */
export async function startGenerationWithHold(temporal: Temporal, input: GenerationInput, waitMs: number): Promise<HoldOutcome | null> {
  const { client } = temporal;
  try {
    return await withCallDeadline(client, Date.now() + waitMs, () =>
      client.workflow.executeUpdateWithStart(placeHoldUpdate, {
        updateId: 'place-hold',
        startWorkflowOperation: new WithStartWorkflowOperation(generationWorkflow, startOptions(temporal, input)),
      }),
    );
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return null;
    // The workflow may have started without us hearing back: cancelling it releases any hold it placed.
    await cancelInDoubt(temporal, input.generationId);
    throw new GenerationUnavailable(input.generationId, err);
  }
}

/**
 * A video, whose hold the API has placed: starts its workflow, which finds the hold by its key and owns
 * it from then on. Answers once Temporal has recorded the start, without waiting for a worker (a video
 * is a job: it waits durably in its task queue while no worker runs). 'finished' when a run under this id
 * has already ended. If Temporal does not answer in time the run is cancelled in case it started, and
 * GenerationUnavailable is thrown: the caller releases the hold.
 */
export async function startHeldGeneration(temporal: Temporal, input: GenerationInput, waitMs: number): Promise<'started' | 'finished'> {
  const { client } = temporal;
  try {
    await withCallDeadline(client, Date.now() + waitMs, () => client.workflow.start(generationWorkflow, startOptions(temporal, input)));
    return 'started';
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return 'finished';
    await cancelInDoubt(temporal, input.generationId);
    throw new GenerationUnavailable(input.generationId, err);
  }
}

/**
 * The workflow's result, or null when the run ended abnormally (terminated by an operator, say: the
 * row then says what is known). Throws GenerationStillRunning when `waitMs` passes first.
 */
export async function awaitGenerationResult(temporal: Temporal, generationId: string, waitMs: number): Promise<GenerationResult | null> {
  const { client } = temporal;
  try {
    return await withCallDeadline(client, Date.now() + waitMs, () => client.workflow.getHandle<typeof generationWorkflow>(generationWorkflowId(generationId)).result());
  } catch (err) {
    // The client reports the deadline as a gRPC status, bare or wrapped in a ServiceError.
    const e = err as { code?: number; cause?: { code?: number } };
    if (e?.code === GRPC_DEADLINE_EXCEEDED || e?.cause?.code === GRPC_DEADLINE_EXCEEDED) throw new GenerationStillRunning(generationId);
    if (err instanceof WorkflowFailedError) return null;
    throw err;
  }
}

// How long a cancel after a start that went unanswered may take: Temporal is likely down then, and the
// client would otherwise retry for about 20 s while the caller waits for its 503.
const CANCEL_AFTER_FAILED_START_MS = 2_000;

/** Cancels a run that may have started without us hearing back, within a short deadline of its own. */
function cancelInDoubt(temporal: Temporal, generationId: string): Promise<void> {
  return withCallDeadline(temporal.client, Date.now() + CANCEL_AFTER_FAILED_START_MS, () => cancelGenerationWorkflow(temporal, generationId)).catch(() => undefined);
}

/** Asks the workflow to cancel; one that has already closed (or never started) needs nothing. */
export async function cancelGenerationWorkflow(temporal: Temporal, generationId: string): Promise<void> {
  try {
    await temporal.client.workflow.getHandle(generationWorkflowId(generationId)).cancel();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return;
    // The server answers a cancel of a closed run with "workflow execution already completed".
    if ((err as { message?: string })?.message?.includes('already completed')) return;
    throw err;
  }
}
