import { randomFillSync } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'; // Crockford base32, lower case

const RANDOM_BYTES = 10;
// Random bytes are drawn from the CSPRNG a pool at a time, as crypto.randomUUID does: a call into
// OpenSSL per id was 2 % of the gateway's CPU on the chat path, which makes two ids per request.
const pool = Buffer.alloc(RANDOM_BYTES * 256);
let used = pool.length;

/** The offset of RANDOM_BYTES fresh random bytes in `pool`, each handed out once. */
function randomOffset(): number {
  if (used === pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  used += RANDOM_BYTES;
  return used - RANDOM_BYTES;
}

/**
 * Prefixed, time-ordered ids (`dep_01k…`) in the style of Stripe and OpenAI: the prefix says
 * what the id names, the time part keeps listings and index pages in creation order, and
 * 80 random bits make collisions a non-issue.
 */
export function newId(prefix: string, now = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const at = randomOffset();
  let rand = '';
  let acc = 0;
  let bits = 0;
  for (let i = at; i < at + RANDOM_BYTES; i++) {
    acc = (acc << 8) | pool[i]!;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      rand += ALPHABET[(acc >> bits) & 31];
    }
  }
  return `${prefix}_${time}${rand}`;
}
