import { pipeline } from 'node:stream/promises';
import { Router } from 'express';
import { z } from 'zod';
import type { Services } from '../../services.js';
import { SIGNED_ASSET_PATH } from '../../storage/signed-url.js';
import { ApiError, notFound } from '../errors.js';
import { defineRoute } from '../route.js';

const CONTENT_TYPES: Record<string, string> = { png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', webp: 'image/webp', mp4: 'video/mp4' };

const signedQuery = z.object({
  expires: z.string().max(12).default(''),
  signature: z.string().max(100).default(''),
});

// One answer for a wrong, tampered or expired link: which one it was is nobody's business.
const refused = () => new ApiError(403, 'permission_error', 'invalid_signature', 'This link is invalid or has expired.');

/**
 * The links `response_format: "url"` hands out when assets are kept by this service: no API key,
 * the signature in the query is the permission. Mounted outside /v1.
 */
export function signedAssetRoutes(services: Services): Router {
  const router = Router();
  defineRoute(
    router,
    {
      method: 'get',
      path: `${SIGNED_ASSET_PATH}/*key`,
      summary: 'A generated asset behind a signed, expiring link (the `url` of response_format=url); no API key',
      tag: 'images',
      auth: 'none',
      query: signedQuery,
      responses: {
        200: { description: 'The asset', contentType: 'image/png' },
        403: { description: 'The link is invalid, tampered with or expired' },
      },
    },
    async ({ query, params }, _req, res) => {
      const key = ([] as string[]).concat((params as unknown as { key: string | string[] }).key).join('/');
      if (!services.assetUrlSigner.verify(key, query)) throw refused();
      const content = await services.assets.get(key);
      if (!content) throw notFound('This file is no longer available.');
      res.status(200);
      res.setHeader('content-type', CONTENT_TYPES[key.split('.').pop()!.toLowerCase()] ?? 'application/octet-stream');
      res.setHeader('content-length', String(content.size));
      res.setHeader('cache-control', `private, max-age=${Math.max(0, Number(query.expires) - Math.floor(Date.now() / 1000))}`);
      await pipeline(content.body, res).catch(() => res.destroy());
    },
  );
  return router;
}
