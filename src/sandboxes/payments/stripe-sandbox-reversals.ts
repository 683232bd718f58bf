/**
 * Disputes and refunds in the Stripe sandbox: what a payer's bank (a dispute, then its outcome) and
 * the merchant's dashboard (a refund) do to a paid Checkout Session's charge, announced with
 * Stripe's events (`charge.dispute.created`, `charge.dispute.closed`, `charge.refunded`) signed
 * like every other sandbox webhook. Kept apart from the checkout part of the sandbox.
 */
import { randomBytes } from 'node:crypto';
import express, { type Router } from 'express';

export interface SandboxDispute {
  id: string;
  object: 'dispute';
  amount: number;
  currency: string;
  charge: string;
  payment_intent: string;
  status: 'needs_response' | 'won' | 'lost';
  reason: string;
  created: number;
  livemode: false;
}

export interface SandboxCharge {
  id: string;
  object: 'charge';
  amount: number;
  amount_refunded: number;
  currency: string;
  payment_intent: string;
  refunded: boolean;
  disputed: boolean;
  status: 'succeeded';
  livemode: false;
}

export interface ReversalState {
  charges: Record<string, SandboxCharge>;
  disputes: Record<string, SandboxDispute>;
}

/** What the reversal part needs from the checkout part. */
export interface ReversalHost {
  state: ReversalState;
  changed(): void;
  /** The paid session's PaymentIntent: id, amount (cents) and currency; throws when unpaid. */
  paidIntent(sessionId: string): { id: string; amount: number; currency: string };
  emit(type: string, object: unknown): void;
}

export class ReversalStateError extends Error {}

export interface StripeReversals {
  dispute(sessionId: string, opts?: { amount?: number; reason?: string }): SandboxDispute;
  closeDispute(disputeId: string, outcome: 'won' | 'lost'): SandboxDispute;
  refund(sessionId: string, amount?: number): SandboxCharge;
}

export function createStripeReversals(host: ReversalHost): StripeReversals {
  const now = () => Math.floor(Date.now() / 1000);

  /** The charge behind a paid session, created on first use (one charge per PaymentIntent). */
  function chargeOf(sessionId: string): SandboxCharge {
    const intent = host.paidIntent(sessionId);
    const existing = Object.values(host.state.charges).find((c) => c.payment_intent === intent.id);
    if (existing) return existing;
    const charge: SandboxCharge = {
      id: `ch_${token(24)}`,
      object: 'charge',
      amount: intent.amount,
      amount_refunded: 0,
      currency: intent.currency,
      payment_intent: intent.id,
      refunded: false,
      disputed: false,
      status: 'succeeded',
      livemode: false,
    };
    host.state.charges[charge.id] = charge;
    return charge;
  }

  return {
    dispute(sessionId, opts = {}) {
      const charge = chargeOf(sessionId);
      if (charge.disputed) throw new ReversalStateError('This charge has already been disputed.');
      const amount = opts.amount ?? charge.amount - charge.amount_refunded;
      if (!Number.isSafeInteger(amount) || amount <= 0 || amount > charge.amount) throw new ReversalStateError('Invalid dispute amount.');
      const dispute: SandboxDispute = {
        id: `du_${token(24)}`,
        object: 'dispute',
        amount,
        currency: charge.currency,
        charge: charge.id,
        payment_intent: charge.payment_intent,
        status: 'needs_response',
        reason: opts.reason ?? 'fraudulent',
        created: now(),
        livemode: false,
      };
      charge.disputed = true;
      host.state.disputes[dispute.id] = dispute;
      host.changed();
      host.emit('charge.dispute.created', dispute);
      return dispute;
    },
    closeDispute(disputeId, outcome) {
      const dispute = host.state.disputes[disputeId];
      if (!dispute) throw new ReversalStateError(`No such dispute: '${disputeId}'`);
      if (dispute.status !== 'needs_response') throw new ReversalStateError(`This dispute is already ${dispute.status}.`);
      dispute.status = outcome;
      host.changed();
      host.emit('charge.dispute.closed', dispute);
      return dispute;
    },
    refund(sessionId, amount) {
      const charge = chargeOf(sessionId);
      const refund = amount ?? charge.amount - charge.amount_refunded;
      if (!Number.isSafeInteger(refund) || refund <= 0 || charge.amount_refunded + refund > charge.amount) {
        throw new ReversalStateError('Refund amount must be positive and at most what is left of the charge.');
      }
      charge.amount_refunded += refund;
      charge.refunded = charge.amount_refunded === charge.amount;
      host.changed();
      host.emit('charge.refunded', charge);
      return charge;
    },
  };
}

/** Sandbox-only controls (not Stripe's API): dispute or refund a paid session, close a dispute. */
export function mountReversalControl(router: Router, reversals: StripeReversals, handle: (res: express.Response, fn: () => unknown) => void): void {
  const json = express.json();
  const amountOf = (body: unknown): number | undefined => {
    const a = (body as { amount?: unknown } | undefined)?.amount;
    return typeof a === 'number' ? a : undefined;
  };
  router.post('/_sandbox/checkout/sessions/:id/dispute', json, (req, res) => {
    const reason = typeof req.body?.reason === 'string' ? req.body.reason : undefined;
    handle(res, () => reversals.dispute(String(req.params.id), { amount: amountOf(req.body), reason }));
  });
  router.post('/_sandbox/checkout/sessions/:id/refund', json, (req, res) => {
    handle(res, () => reversals.refund(String(req.params.id), amountOf(req.body)));
  });
  router.post('/_sandbox/disputes/:id/close', json, (req, res) => {
    const outcome = req.body?.outcome;
    handle(res, () => {
      if (outcome !== 'won' && outcome !== 'lost') throw new ReversalStateError('outcome must be "won" or "lost".');
      return reversals.closeDispute(String(req.params.id), outcome);
    });
  });
}

const ALPHANUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
function token(length: number): string {
  return [...randomBytes(length)].map((b) => ALPHANUM[b % ALPHANUM.length]).join('');
}
