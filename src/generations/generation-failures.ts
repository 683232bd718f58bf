// How a failed generation answers over HTTP. Shared by the image route (which answers when the workflow
// ends) and the request log (which records what the caller was told).

export function httpStatusForFailure(code: string): number {
  switch (code) {
    case 'content_policy_violation':
    case 'invalid_request':
      return 400;
    case 'insufficient_funds':
    case 'key_limit_exceeded':
      return 402;
    case 'timeout':
      return 504;
    case 'cancelled':
    case 'unavailable':
      return 503;
    default:
      return 502;
  }
}

export const ENDPOINT_FOR_KIND = { image: '/v1/images/generations', video: '/v1/videos' } as const;
