import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

/**
 * The credentials the product's adapters present to the sandboxes, and the sandboxes sign their
 * webhooks with. Generated once per install and kept under DATA_DIR (mode 0600), never constants
 * in the code: a constant is public, and a webhook signed with it would credit real balances.
 * Every process of one install (api and worker roles share DATA_DIR for assets) reads the same file.
 */
export interface SandboxSecrets {
  stripe: { secretKey: string; webhookSecret: string };
  cryptomus: { merchantId: string; apiKey: string };
  gemini: { apiKey: string };
  chat: { apiKey: string };
}

const fileSchema = z.object({
  stripe: z.object({ secretKey: z.string().min(16), webhookSecret: z.string().min(16) }),
  cryptomus: z.object({ merchantId: z.string().min(8), apiKey: z.string().min(16) }),
  gemini: z.object({ apiKey: z.string().min(16) }),
  chat: z.object({ apiKey: z.string().min(16) }),
});

export function sandboxSecretsFile(dataDir: string): string {
  return path.join(dataDir, 'sandbox', 'secrets.json');
}

export function loadSandboxSecrets(dataDir: string): SandboxSecrets {
  const file = sandboxSecretsFile(dataDir);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  try {
    // 'wx': of two processes starting at once, one writes and the other reads what it wrote.
    fs.writeFileSync(file, JSON.stringify(generate(), null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const parsed = fileSchema.safeParse(JSON.parse(fs.readFileSync(file, 'utf8')));
  if (!parsed.success) throw new Error(`${file} is not a valid sandbox secrets file: delete it to generate a new one`);
  return parsed.data;
}

function generate(): SandboxSecrets {
  const token = (prefix: string) => prefix + randomBytes(24).toString('base64url');
  return {
    stripe: { secretKey: token('sk_test_'), webhookSecret: token('whsec_') },
    cryptomus: { merchantId: randomBytes(16).toString('hex'), apiKey: token('') },
    gemini: { apiKey: token('sandbox-') },
    chat: { apiKey: token('sk-sandbox-') },
  };
}
