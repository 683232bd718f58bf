import { describe, expect, it } from 'vitest';
import { AssetUrlSigner } from '../../src/storage/signed-url.js';

const secret = 'a-test-secret-of-at-least-32-characters';
const now = new Date('2026-11-30T10:00:00Z');
const signer = new AssetUrlSigner(secret, 'https://api.example.com', 3600);

function parts(url: string) {
  const u = new URL(url);
  return { path: u.pathname, query: { expires: u.searchParams.get('expires')!, signature: u.searchParams.get('signature')! } };
}

describe('signed asset links', () => {
  it('sign the path and an expiry one TTL ahead, and verify until then', () => {
    const link = signer.urlFor('generations/gen_1/0.png', now);
    const { path, query } = parts(link);
    expect(path).toBe('/assets/generations/gen_1/0.png');
    expect(Number(query.expires)).toBe(now.getTime() / 1000 + 3600);
    expect(signer.verify('generations/gen_1/0.png', query, now)).toBe(true);
    expect(signer.verify('generations/gen_1/0.png', query, new Date(now.getTime() + 3599_000))).toBe(true);
  });

  it('refuse an expired link, another path, a moved expiry, a changed signature or another install', () => {
    const { query } = parts(signer.urlFor('generations/gen_1/0.png', now));
    expect(signer.verify('generations/gen_1/0.png', query, new Date(now.getTime() + 3600_000))).toBe(false);
    expect(signer.verify('generations/gen_1/1.png', query, now)).toBe(false);
    expect(signer.verify('generations/gen_1/0.png', { ...query, expires: String(Number(query.expires) + 3600) }, now)).toBe(false);
    expect(signer.verify('generations/gen_1/0.png', { ...query, signature: query.signature.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) }, now)).toBe(false);
    expect(signer.verify('generations/gen_1/0.png', { ...query, signature: '' }, now)).toBe(false);
    expect(signer.verify('generations/gen_1/0.png', { ...query, expires: 'soon' }, now)).toBe(false);
    expect(signer.verify('../etc/passwd', query, now)).toBe(false);
    const other = new AssetUrlSigner(`${secret}-other`, 'https://api.example.com', 3600);
    expect(other.verify('generations/gen_1/0.png', query, now)).toBe(false);
  });
});
