/** Typed outcomes of key rules; src/http/errors.ts maps each to one HTTP answer. */

export class ModelNotAllowed extends Error {
  constructor(
    readonly keyPrefix: string,
    readonly model: string,
    readonly allowed: readonly string[],
  ) {
    super(`The API key ${keyPrefix}… may not use the model '${model}'; it is limited to: ${allowed.join(', ') || '(no models)'}.`);
    this.name = 'ModelNotAllowed';
  }
}

export class ManagementKeyRequired extends Error {
  constructor() {
    super('This API key cannot manage keys. Use a key created with "manage": true (the account\u2019s first key has it).');
    this.name = 'ManagementKeyRequired';
  }
}

export class ApiKeyNotFound extends Error {
  constructor(readonly keyId: string) {
    super(`No API key with id '${keyId}' in this account.`);
    this.name = 'ApiKeyNotFound';
  }
}

/** The account must keep one active management key, or it could never manage its keys again. */
export class LastManagementKey extends Error {
  constructor(readonly keyId: string) {
    super(`API key '${keyId}' is the account's last management key; create another key with "manage": true first.`);
    this.name = 'LastManagementKey';
  }
}

export class InvalidKeySettings extends Error {
  constructor(
    message: string,
    readonly param: string,
  ) {
    super(message);
    this.name = 'InvalidKeySettings';
  }
}

/** Over the key's requests (or tokens) per minute; `resetMs` is when the current window ends. */
export class RateLimitExceeded extends Error {
  constructor(
    readonly limit: number,
    readonly resetMs: number,
    readonly unit: 'requests' | 'tokens' = 'requests',
    used?: number,
  ) {
    const seconds = Math.max(1, Math.ceil(resetMs / 1000));
    super(
      unit === 'requests'
        ? `Rate limit reached for this API key on requests per min (RPM): Limit ${limit}. Please try again in ${seconds}s.`
        : `Rate limit reached for this API key on tokens per min (TPM): Limit ${limit}, Used ${used ?? limit}. Please try again in ${seconds}s.`,
    );
    this.name = 'RateLimitExceeded';
  }
}
