import { formatUsd } from './money.js';

/** Available balance (balance − held) cannot cover the amount. The API maps it to 402. */
export class InsufficientFunds extends Error {
  constructor(
    readonly accountId: string,
    readonly available: bigint,
    readonly required: bigint,
  ) {
    super(`insufficient funds: available $${formatUsd(available)}, required $${formatUsd(required)}`);
    this.name = 'InsufficientFunds';
  }
}

export class AccountNotFound extends Error {
  constructor(readonly accountId: string) {
    super(`account ${accountId} not found`);
    this.name = 'AccountNotFound';
  }
}

export class HoldNotFound extends Error {
  constructor(readonly holdId: string) {
    super(`hold ${holdId} not found`);
    this.name = 'HoldNotFound';
  }
}

/** The hold was already released or expired (or captured for another amount); it cannot be charged. */
export class HoldNotPending extends Error {
  constructor(
    readonly holdId: string,
    readonly status: string,
  ) {
    super(`hold ${holdId} is ${status}, not pending`);
    this.name = 'HoldNotPending';
  }
}

/** An idempotency key was reused for a different operation (other account, amount or kind). */
export class IdempotencyConflict extends Error {
  constructor(readonly key: string) {
    super(`idempotency key ${key} was already used for a different operation`);
    this.name = 'IdempotencyConflict';
  }
}

export class CaptureExceedsHold extends Error {
  constructor(
    readonly holdId: string,
    readonly held: bigint,
    readonly requested: bigint,
  ) {
    super(`capture of ${requested} n$ exceeds hold ${holdId} of ${held} n$`);
    this.name = 'CaptureExceedsHold';
  }
}

/**
 * The hold would take an API key past its spend limit for the period: `used` is what the key has
 * spent in the period plus what its pending holds reserve. The API maps it to 402.
 */
export class KeyLimitExceeded extends Error {
  constructor(
    readonly keyId: string,
    readonly limit: bigint,
    readonly used: bigint,
    readonly reset: 'daily' | 'weekly' | 'monthly' | null,
  ) {
    super(`key ${keyId} spend limit exceeded: limit $${formatUsd(limit)}, used $${formatUsd(used)}`);
    this.name = 'KeyLimitExceeded';
  }
}

/**
 * The process lease an allowance would belong to has lapsed: the sweep may already have released what
 * the process held under it, so it takes no more until it holds a live lease again.
 */
export class LeaseLapsed extends Error {
  constructor(readonly leaseId: string) {
    super(`process lease ${leaseId} has lapsed`);
    this.name = 'LeaseLapsed';
  }
}

/**
 * A chat charge whose allowance is gone (released after its lease lapsed) and which the available
 * balance does not cover: nothing was charged, and the upstream's work is our loss.
 */
export class ChargeUncovered extends Error {
  constructor(
    readonly accountId: string,
    readonly amount: bigint,
  ) {
    super(`chat charge of $${formatUsd(amount)} on ${accountId} is covered by neither an allowance nor the available balance; nothing was charged`);
    this.name = 'ChargeUncovered';
  }
}
