import { Client, Connection } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { createGenerationHolds } from '../../src/generations/generation-hold.js';
import { GenerationUnavailable, startGeneration, type GenerationRequest } from '../../src/generations/generation-starter.js';
import { findHoldsOfLapsedLeases } from '../../src/ledger/process-lease.js';
import { freePort } from '../../src/launcher/free-port.js';
import type { GenerationModel } from '../../src/pricing/catalog.js';
import type { Harness } from '../support/harness.js';
import { startHarness } from '../support/harness.js';
import { useHarness } from '../support/suite-harness.js';
import { PRICE, expectNothingCharged, holdOf } from '../workflows/generation-fixtures.js';

/** The service's own parts, but a Temporal that does not answer: nothing listens at its address. */
async function withTemporalDown(h: Harness) {
  const client = new Client({ connection: Connection.lazy({ address: `127.0.0.1:${await freePort()}` }) });
  const config = { ...h.services.config, generations: { ...h.services.config.generations, holdWaitSeconds: 1 } };
  return { ...h.services, config, temporal: { ...h.services.temporal, client } };
}

async function videoRequest(h: Harness, balanceUsd: string): Promise<GenerationRequest> {
  const { accountId, keyId } = await h.createAccount({ balanceUsd });
  return {
    accountId,
    apiKeyId: keyId,
    budgetKeyId: null,
    requestId: `req_${keyId}`,
    model: h.services.catalog.get('veo-3.1') as GenerationModel,
    prompt: 'a lighthouse in fog',
    count: 1,
    requested: {},
    video: { aspectRatio: '16:9', resolution: '720p', durationSeconds: 8 },
  };
}

describe('a video holds its price before its workflow starts', () => {
  let h: Harness;
  useHarness(() => startHarness({ worker: false }), (x) => (h = x));

  it('releases the hold at once, and closes the generation as failed, when Temporal cannot start the workflow', async () => {
    const req = await videoRequest(h, '1.00');
    const err = await startGeneration(await withTemporalDown(h), req).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GenerationUnavailable);
    const generationId = (err as GenerationUnavailable).generationId;
    expect((await holdOf(h, generationId))?.status).toBe('released');
    const row = await h.services.db('generations').where({ id: generationId }).first();
    expect(row).toMatchObject({ status: 'failed', error_code: 'unavailable' });
    await expectNothingCharged(h, req.accountId, generationId, 1_000_000_000n);
  });

  it('refuses a hold the balance cannot cover without starting a workflow, and frees the request key for a retry', async () => {
    const req = await videoRequest(h, '0.10');
    const started = await startGeneration(await withTemporalDown(h), { ...req, idempotencyKey: 'too-poor' });
    expect(started.hold).toMatchObject({ ok: false, reason: 'insufficient_funds', requiredNanos: PRICE.toString() });
    expect(started.record).toMatchObject({ status: 'rejected', idempotencyKey: null });
    expect(await holdOf(h, started.record.id)).toBeUndefined();
  });

  it('answers with the hold placed, and the running workflow owns it, when Temporal answers', async () => {
    const req = await videoRequest(h, '1.00');
    const started = await startGeneration(h.services, { ...req, idempotencyKey: 'held-then-started' });
    expect(started.hold).toMatchObject({ ok: true });
    const hold = await holdOf(h, started.record.id);
    expect(hold).toMatchObject({ id: (started.hold as { holdId: string }).holdId, amount: PRICE });
    // The same request again lands on the same row, hold and workflow.
    const again = await startGeneration(h.services, { ...req, idempotencyKey: 'held-then-started' });
    expect(again.record.id).toBe(started.record.id);
    expect(again.hold).toEqual(started.hold);
    const run = await h.services.temporal.client.workflow.getHandle(`generation-${started.record.id}`).describe();
    expect(run.type).toBe('generationWorkflow');
    // Until its workflow adopts it, the hold is this process's, freed by the sweep if the process dies.
    expect(hold.lease_id).toBe(await h.services.holdLease.id());
    await h.services.temporal.client.workflow.getHandle(`generation-${started.record.id}`).terminate('test over');
    await h.services.ledger.releaseHold({ holdId: hold.id });
  });

  it('hands the hold from the API process’s lease to the workflow, which finds it again by its key', async () => {
    const req = await videoRequest(h, '1.00');
    const started = await startGeneration(h.services, req);
    const holdId = (started.hold as { holdId: string }).holdId;
    await h.services.temporal.client.workflow.getHandle(`generation-${started.record.id}`).terminate('the test plays the workflow');
    // What the workflow's first step does (the placeGenerationHold activity, without a lease of its own).
    const adopted = await createGenerationHolds(h.services).place({ generationId: started.record.id, accountId: req.accountId, requestId: req.requestId, amountNanos: PRICE.toString(), ttlMs: 60_000 });
    expect(adopted).toEqual({ ok: true, holdId });
    expect((await holdOf(h, started.record.id)).lease_id).toBeNull();
    // The lapsed-lease sweep no longer sees it, whatever becomes of the API process.
    await h.services.db('process_leases').where({ id: await h.services.holdLease.id() }).update({ expires_at: h.services.db.raw("now() - interval '1 second'") });
    expect((await findHoldsOfLapsedLeases(h.services.db, 1000)).map((x) => x.holdId)).not.toContain(holdId);
    await h.services.ledger.releaseHold({ holdId });
  });

  it('ends the generation as unavailable, charging nothing and asking no provider, when the lease freed the hold before the workflow ran', async () => {
    const req = await videoRequest(h, '1.00');
    const started = await startGeneration(h.services, req);
    const holdId = (started.hold as { holdId: string }).holdId;
    // The API process died (its lease lapsed) before any worker took the run: the sweep frees its holds.
    await h.services.db('process_leases').where({ id: (await holdOf(h, started.record.id)).lease_id }).update({ expires_at: h.services.db.raw("now() - interval '1 second'") });
    const lapsed = await findHoldsOfLapsedLeases(h.services.db, 1000);
    expect(lapsed.map((x) => x.holdId)).toContain(holdId);
    await h.services.ledger.releaseHold({ holdId });

    await h.startWorker();
    const result = await h.services.temporal.client.workflow.getHandle(`generation-${started.record.id}`).result();
    expect(result).toMatchObject({ status: 'failed', chargedNanos: '0', error: { code: 'unavailable' } });
    const row = await h.services.db('generations').where({ id: started.record.id }).first();
    expect(row).toMatchObject({ status: 'failed', error_code: 'unavailable', provider_job: null });
    await expectNothingCharged(h, req.accountId, started.record.id, 1_000_000_000n);
  });
});
