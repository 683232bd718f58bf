/**
 * One external provider as its own process, speaking the provider's documented protocol, for the
 * fault suite: `tsx faults/provider-main.ts upstream|gemini|stripe|cryptomus`. Secrets and the
 * webhook target come from the environment; prints `READY <url>` once listening.
 */
import type { AddressInfo } from 'node:net';
import express from 'express';
import { createCryptomusSandbox } from '../src/sandboxes/payments/cryptomus-sandbox.js';
import { createStripeSandbox } from '../src/sandboxes/payments/stripe-sandbox.js';
import { createChatSandbox, type SandboxCall } from '../src/sandboxes/chat/chat-sandbox.js';
import { createGeminiSandbox } from '../src/sandboxes/gemini/gemini-sandbox.js';
import { providerFaults } from './provider-faults.js';

const kind = process.argv[2];
const env = (name: string) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required for the ${kind} provider`);
  return v;
};

const app = express();
app.disable('x-powered-by');
app.set('trust proxy', 'loopback');
const faults = providerFaults();
app.use(faults.control);
app.use(faults.inject);

const calls = { completed: 0, client_closed: 0, failed: 0, completionTokens: 0, unfinishedTokens: 0 };
app.get('/_faults/stats', (_req, res) => void res.json(calls));

switch (kind) {
  case 'upstream':
    app.use(
      '/v1',
      createChatSandbox({
        apiKey: env('PROVIDER_API_KEY'),
        tokenDelayMs: Number(process.env.PROVIDER_TOKEN_DELAY_MS ?? 5),
        replyLength: { min: 20, max: 80 },
        onFinish: (call: SandboxCall) => {
          calls[call.outcome]++;
          if (call.outcome === 'completed') calls.completionTokens += call.completionTokens;
          else calls.unfinishedTokens += call.completionTokens;
        },
      }),
    );
    break;
  case 'gemini': {
    const gemini = createGeminiSandbox({ apiKey: env('PROVIDER_API_KEY'), imageDelayMs: 200, videoDelayMs: 1_500 });
    app.get('/_faults/gemini', (_req, res) => void res.json(gemini.counters));
    app.use(gemini.router);
    break;
  }
  case 'stripe': {
    const stripe = createStripeSandbox({
      secretKey: env('PROVIDER_API_KEY'),
      webhookSecret: env('PROVIDER_WEBHOOK_SECRET'),
      webhookUrl: env('PROVIDER_WEBHOOK_URL'),
      retryDelaysMs: [500, 2_000, 5_000, 10_000],
    });
    app.use(stripe.router);
    break;
  }
  case 'cryptomus': {
    const cryptomus = createCryptomusSandbox({ merchantId: env('PROVIDER_MERCHANT_ID'), apiKey: env('PROVIDER_API_KEY'), retryDelaysMs: [500, 2_000, 5_000, 10_000] });
    app.use(cryptomus.router);
    break;
  }
  default:
    throw new Error(`unknown provider ${kind}: upstream, gemini, stripe or cryptomus`);
}

const server = app.listen(Number(process.env.PROVIDER_PORT ?? 0), '127.0.0.1', () => {
  console.log(`READY http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
