import path from 'node:path';
import type { Router } from 'express';
import { type Config, type PartName } from '../config.js';
import { type ChatSandboxOptions, createChatSandbox } from './chat/chat-sandbox.js';
import { createGeminiSandbox, type GeminiSandbox } from './gemini/gemini-sandbox.js';
import { type CryptomusSandbox, createCryptomusSandbox } from './payments/cryptomus-sandbox.js';
import { createStripeSandbox, type StripeSandbox } from './payments/stripe-sandbox.js';
import { loadSandboxSecrets, type SandboxSecrets } from './secrets.js';

/**
 * The one place sandboxes are created and mounted. config.parts says which parts they stand in
 * for (never any in production unless SANDBOXES=1); the product's adapters then talk to them over
 * HTTP exactly as they would to the real providers, with the credentials in `connections`.
 */

const PATHS = { card: '/sandbox/stripe', crypto: '/sandbox/cryptomus', chat: '/sandbox/openai/v1', media: '/sandbox/gemini' } as const;

/** What a product adapter needs to reach the sandbox that stands in for its part. */
export interface SandboxConnections {
  card?: { secretKey: string; webhookSecret: string; apiBase: string };
  crypto?: { merchantId: string; apiKey: string; baseUrl: string };
  chat?: { baseUrl: string; apiKey: string };
  media?: { baseUrl: string; apiKey: string };
}

export interface RunningSandboxes {
  stripe?: StripeSandbox;
  cryptomus?: CryptomusSandbox;
  gemini?: GeminiSandbox;
  chat?: ChatSandboxOptions;
}

export interface Sandboxes {
  connections: SandboxConnections;
  /** Created on first call, by the process that serves HTTP (the api or all-in-one role). */
  running(): RunningSandboxes;
  close(): Promise<void>;
}

export interface MountedRouter {
  path: string;
  router: Router;
}

export function createSandboxes(config: Config): Sandboxes {
  const active = (Object.keys(PATHS) as PartName[]).filter((p) => config.parts[p] === 'sandbox');
  if (!active.length) return { connections: {}, running: () => ({}), close: async () => {} };
  const secrets: SandboxSecrets = loadSandboxSecrets(config.dataDir);
  const is = (part: PartName) => active.includes(part);
  // Adapters reach the sandboxes through SANDBOX_URL (this process by default, or the install's api
  // role); payers reach the hosted pages through PUBLIC_URL.
  const at = (part: PartName) => `${config.sandboxes.url}${PATHS[part]}`;
  const connections: SandboxConnections = {
    card: is('card') ? { ...secrets.stripe, apiBase: config.stripe.apiBase ?? at('card') } : undefined,
    crypto: is('crypto') ? { ...secrets.cryptomus, baseUrl: config.cryptomus.baseUrl ?? at('crypto') } : undefined,
    chat: is('chat') ? { baseUrl: at('chat'), apiKey: secrets.chat.apiKey } : undefined,
    media: is('media') ? { baseUrl: at('media'), apiKey: secrets.gemini.apiKey } : undefined,
  };

  let running: RunningSandboxes | undefined;
  const stateDir = path.join(config.dataDir, 'sandbox');
  const self = `http://127.0.0.1:${config.port}`;
  return {
    connections,
    running() {
      running ??= {
        stripe: is('card')
          ? createStripeSandbox({
              ...secrets.stripe,
              webhookUrl: `${self}/webhooks/stripe`,
              publicUrl: `${config.publicUrl}${PATHS.card}`,
              statePath: path.join(stateDir, 'stripe.json'),
              minExpirySeconds: 0,
            })
          : undefined,
        cryptomus: is('crypto')
          ? createCryptomusSandbox({
              ...secrets.cryptomus,
              publicUrl: `${config.publicUrl}${PATHS.crypto}`,
              statePath: path.join(stateDir, 'cryptomus.json'),
              minLifetimeSeconds: SANDBOX_MIN_CHECKOUT_SECONDS,
            })
          : undefined,
        gemini: is('media')
          ? createGeminiSandbox({
              apiKey: secrets.gemini.apiKey,
              imageDelayMs: config.generations.simulatedImageDelayMs,
              videoDelayMs: config.generations.simulatedVideoDelayMs,
            })
          : undefined,
        chat: is('chat') ? { apiKey: secrets.chat.apiKey } : undefined,
      };
      return running;
    },
    async close() {
      running?.gemini?.close();
      await running?.stripe?.close();
      await running?.cryptomus?.close();
    },
  };
}

/**
 * The sandboxes take any future expiry, so DEPOSIT_CHECKOUT_TTL alone decides (tests run with
 * seconds); the real providers keep their minimums.
 */
export const SANDBOX_MIN_CHECKOUT_SECONDS = 1;

/**
 * The routers app.ts mounts, before its body parsers (the payment sandboxes read, and Cryptomus
 * signs, raw bodies; each sandbox parses its own). Empty when no part is sandboxed.
 */
export function sandboxRouters(sandboxes: Sandboxes): MountedRouter[] {
  const r = sandboxes.running();
  const mounted: (MountedRouter | undefined)[] = [
    r.stripe && { path: PATHS.card, router: r.stripe.router },
    r.cryptomus && { path: PATHS.crypto, router: r.cryptomus.router },
    r.chat && { path: PATHS.chat, router: createChatSandbox(r.chat) },
    r.gemini && { path: PATHS.media, router: r.gemini.router },
  ];
  return mounted.filter((m): m is MountedRouter => m !== undefined);
}
