/**
 * Ops turn an approved custom-amount support request into a checkout for that amount: the same
 * deposit and deposit workflow as a tier top-up, keyed by the request (idempotency key
 * `support:<request id>`, and at most one deposit per request in the database), so repeating the
 * call returns the same deposit. The request is linked to it and answered with where to pay.
 */
import { formatUsd } from '../ledger/money.js';
import type { Deposit, DepositMethod } from '../payments/deposit-repository.js';
import { openDepositCheckout } from '../payments/deposit-client.js';
import { checkoutFor } from '../payments/deposit-starter.js';
import { customAmountProblem } from '../payments/tiers.js';
import type { Services } from '../services.js';
import { changeSupportRequest, getSupportRequest, linkSupportDeposit } from './support-repository.js';

/** Why ops cannot open this checkout; answered 400 (409 for a conflicting repeat) naming the field. */
export class CustomDepositRefused extends Error {
  constructor(
    message: string,
    readonly param: string,
    readonly conflict = false,
  ) {
    super(message);
    this.name = 'CustomDepositRefused';
  }
}

export interface CustomDepositRequest {
  accountId: string;
  amount: bigint;
  method: DepositMethod;
  supportRequestId: string;
}

export async function startCustomDeposit(services: Services, req: CustomDepositRequest): Promise<{ deposit: Deposit; created: boolean }> {
  const { db, payments } = services;
  const checkout = checkoutFor(payments, req.method);
  const request = await getSupportRequest(db, req.supportRequestId, req.accountId);
  if (!request) throw new CustomDepositRefused(`No support request '${req.supportRequestId}' for this account.`, 'support_request_id');
  if (request.kind !== 'custom_amount') throw new CustomDepositRefused(`Support request ${request.id} is not a custom_amount request.`, 'support_request_id');
  if (request.status === 'closed' && !request.deposit_id) throw new CustomDepositRefused(`Support request ${request.id} is closed.`, 'support_request_id');
  const problem = customAmountProblem(req.amount);
  if (problem) throw new CustomDepositRefused(problem, 'amount_usd');

  let { deposit, created } = await payments.deposits.create({
    accountId: req.accountId,
    ...checkout,
    tier: 'custom',
    amount: req.amount,
    idempotencyKey: `support:${request.id}`,
    supportRequestId: request.id,
  });
  if (!created && (deposit.amount !== req.amount || deposit.method !== req.method)) {
    throw new CustomDepositRefused(
      `Support request ${request.id} already has deposit ${deposit.id} ($${formatUsd(deposit.amount)} by ${deposit.method}).`,
      'support_request_id',
      true,
    );
  }
  if (deposit.status === 'creating') {
    await openDepositCheckout(services, deposit);
    deposit = (await payments.deposits.get(deposit.id))!;
  }
  await linkSupportDeposit(db, request.id, deposit.id);
  if (created) {
    await changeSupportRequest(
      db,
      request.id,
      { actor: 'ops', status: 'answered', reply: `A checkout for $${formatUsd(deposit.amount)} by ${deposit.method} is ready: deposit ${deposit.id} in GET /v1/billing/deposits, with its checkout_url.` },
      services.config.support.maxOpenPerAccount,
    );
  }
  return { deposit, created };
}
