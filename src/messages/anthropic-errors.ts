import type { ApiError } from '../http/errors.js';

// Errors on the Anthropic-speaking endpoints keep Anthropic's shape, so that its SDKs (and Claude
// Code) raise their typed errors: {"type":"error","error":{"type","message"}}. Status codes stay
// ours; the type follows Anthropic's table for each status.

/** Paths answered in Anthropic's wire format (the API key may also come as `x-api-key` there). */
export function speaksAnthropic(path: string): boolean {
  return path === '/v1/messages' || path.startsWith('/v1/messages/') || path.startsWith('/v1/messages?');
}

export function anthropicErrorType(status: number): string {
  switch (status) {
    case 400:
    case 409:
    case 422:
      return 'invalid_request_error';
    case 401:
      return 'authentication_error';
    // Anthropic's SDKs know `billing_error`; an empty wallet is a billing matter, not a bad request.
    case 402:
      return 'billing_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 413:
      return 'request_too_large';
    case 429:
      return 'rate_limit_error';
    case 504:
      return 'timeout_error';
    case 529:
      return 'overloaded_error';
    default:
      return status >= 500 ? 'api_error' : 'invalid_request_error';
  }
}

export function anthropicErrorBody(error: ApiError): { type: 'error'; error: { type: string; message: string } } {
  return { type: 'error', error: { type: anthropicErrorType(error.status), message: error.message } };
}
