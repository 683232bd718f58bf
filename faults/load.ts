/**
 * A bounded mixed load against the API, as customers would send it: chat, streaming chat, images,
 * videos and deposits paid through the providers' checkout. Every operation is recorded with what
 * the client saw (status, error, the charge it was told about), so the checks can hold the ledger to it.
 */
export type OpKind = 'chat' | 'stream' | 'image' | 'video' | 'deposit_card' | 'deposit_crypto';

export interface OpRecord {
  kind: OpKind;
  account: string;
  start: number;
  end: number;
  /** HTTP status, or null when the connection failed or the deadline passed. */
  status: number | null;
  /** Transport error, deadline, or the API's error code. */
  error?: string;
  retryAfter?: boolean;
  /** The request id (chat) or object id (generation, deposit) the client was given. */
  id?: string;
  /** The charge the client was told about, in nano-dollars (chat usage.cost; $0.21 for an image). */
  chargedNano?: bigint;
  /** A deposit the payer completed at the provider: it must be credited exactly once. */
  paid?: boolean;
}

export interface LoadAccount {
  id: string;
  key: string;
}

export interface LoadOptions {
  url: string;
  accounts: LoadAccount[];
  concurrency: number;
  providers: { stripe: string; cryptomus: string };
  /** Relative weights of the operations. */
  mix?: Partial<Record<OpKind, number>>;
}

const DEFAULT_MIX: Record<OpKind, number> = { chat: 30, stream: 30, image: 12, video: 12, deposit_card: 8, deposit_crypto: 8 };
const IMAGE_PRICE_NANO = 210_000_000n;
/**
 * The client's deadline per operation: the API must answer (even with an error) before it. An image
 * is answered when delivered, so its bound is the service's own (GENERATION_IMAGE_DEADLINE plus the
 * route's slack, as the topology configures them) and a little more.
 */
export const DEADLINE_MS: Record<OpKind, number> = { chat: 60_000, stream: 60_000, image: 100_000, video: 60_000, deposit_card: 60_000, deposit_crypto: 60_000 };

export class Load {
  readonly records: OpRecord[] = [];
  readonly inFlight = new Map<number, { kind: OpKind; start: number }>();
  private running = false;
  private loops: Promise<void>[] = [];
  private seq = 0;

  constructor(private readonly opts: LoadOptions) {}

  start(): void {
    this.running = true;
    const mix = { ...DEFAULT_MIX, ...this.opts.mix };
    const kinds = Object.entries(mix).flatMap(([k, w]) => Array<OpKind>(w).fill(k as OpKind));
    this.loops = Array.from({ length: this.opts.concurrency }, async (_, i) => {
      const account = this.opts.accounts[i % this.opts.accounts.length]!;
      while (this.running) {
        const kind = kinds[Math.floor(Math.random() * kinds.length)]!;
        const n = this.seq++;
        this.inFlight.set(n, { kind, start: Date.now() });
        const rec = await this.run(kind, account).catch((err): OpRecord => ({ kind, account: account.id, start: Date.now(), end: Date.now(), status: null, error: String(err) }));
        this.inFlight.delete(n);
        this.records.push(rec);
        // A client that just saw a connection error backs off a little, as SDKs do.
        if (rec.status === null || rec.status >= 500) await sleep(200);
      }
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  /** In-flight operations of each kind right now (what a fault hits). */
  snapshotInFlight(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const { kind } of this.inFlight.values()) out[kind] = (out[kind] ?? 0) + 1;
    return out;
  }

  private async run(kind: OpKind, account: LoadAccount): Promise<OpRecord> {
    const rec: OpRecord = { kind, account: account.id, start: Date.now(), end: 0, status: null };
    const headers = { authorization: `Bearer ${account.key}`, 'content-type': 'application/json' };
    const call = (path: string, body: unknown) =>
      fetch(this.opts.url + path, { method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(DEADLINE_MS[kind]) });
    try {
      switch (kind) {
        case 'chat': {
          const res = await call('/v1/chat/completions', { model: 'gpt-5-mini', messages: [{ role: 'user', content: `fault load ${this.seq}` }], max_tokens: 64 });
          const json = (await res.json()) as { usage?: { cost?: number | string }; error?: { code?: string } };
          this.seen(rec, res, json);
          if (res.ok && json.usage?.cost !== undefined) rec.chargedNano = usdToNano(String(json.usage.cost));
          break;
        }
        case 'stream': {
          const res = await call('/v1/chat/completions', {
            model: 'gpt-5-mini',
            messages: [{ role: 'user', content: `fault stream ${this.seq}` }],
            max_tokens: 64,
            stream: true,
            stream_options: { include_usage: true },
          });
          const text = await res.text();
          if (!res.ok) {
            this.seen(rec, res, safeJson(text));
            break;
          }
          this.seen(rec, res, {});
          const usage = text
            .split('\n')
            .filter((l) => l.startsWith('data: {'))
            .map((l) => safeJson(l.slice(6)) as { usage?: { cost?: number | string }; error?: { code?: string } })
            .reverse();
          const inStreamError = usage.find((c) => c.error);
          if (inStreamError) rec.error = inStreamError.error?.code ?? 'stream_error';
          const last = usage.find((c) => c.usage?.cost !== undefined);
          if (last) rec.chargedNano = usdToNano(String(last.usage!.cost));
          else if (!text.includes('data: [DONE]')) rec.error ??= 'stream_cut';
          break;
        }
        case 'image': {
          const res = await call('/v1/images/generations', { model: 'nano-banana-2', prompt: `fault image ${this.seq}` });
          const json = (await res.json()) as { id?: string };
          this.seen(rec, res, json);
          rec.id = json.id ?? res.headers.get('x-generation-id') ?? undefined;
          if (res.ok) rec.chargedNano = IMAGE_PRICE_NANO;
          break;
        }
        case 'video': {
          const res = await call('/v1/videos', { model: 'veo-3.1', prompt: `fault video ${this.seq}` });
          const json = (await res.json()) as { id?: string };
          this.seen(rec, res, json);
          rec.id = json.id;
          break;
        }
        case 'deposit_card':
        case 'deposit_crypto': {
          const method = kind === 'deposit_card' ? 'card' : 'crypto';
          const res = await call('/v1/billing/deposits', { tier: 'starter', method, ...(method === 'crypto' ? { coin: 'USDT' } : {}) });
          const json = (await res.json()) as { id?: string; checkout_url?: string | null };
          this.seen(rec, res, json);
          rec.id = json.id;
          if (!res.ok || !json.checkout_url) break;
          // The payer completes the checkout at the provider; its webhook then tells the service.
          const ref = new URL(json.checkout_url).pathname.split('/').pop()!;
          const paid =
            method === 'card'
              ? await fetch(`${this.opts.providers.stripe}/_sandbox/checkout/sessions/${ref}/pay`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"method":"card"}' })
              : await fetch(`${this.opts.providers.cryptomus}/_sandbox/invoices/${ref}/status`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"status":"paid"}' });
          rec.paid = paid.ok;
          if (!paid.ok) rec.error = `pay ${paid.status}: ${await paid.text()}`;
          break;
        }
      }
    } catch (err) {
      rec.error = (err as Error).name === 'TimeoutError' ? 'deadline' : String((err as Error).cause ?? err);
    }
    rec.end = Date.now();
    return rec;
  }

  private seen(rec: OpRecord, res: Response, json: unknown) {
    rec.status = res.status;
    if (!res.ok) {
      rec.error = (json as { error?: { code?: string } })?.error?.code ?? `http_${res.status}`;
      rec.retryAfter = res.headers.has('retry-after');
    }
    if (rec.kind === 'chat' || rec.kind === 'stream') rec.id = res.headers.get('x-request-id') ?? undefined;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return {};
  }
}

/** Decimal dollars as the API prints them → nano-dollars, without floating point. */
export function usdToNano(usd: string): bigint {
  // JSON numbers below 1e-6 print in exponent form; 9 decimals is exactly the API's precision.
  const text = /e/i.test(usd) ? Number(usd).toFixed(9) : usd.trim();
  const m = /^(-?)(\d+)(?:\.(\d{1,9}))?$/.exec(text);
  if (!m) throw new Error(`not a dollar amount: ${usd}`);
  const nano = BigInt(m[2]!) * 1_000_000_000n + BigInt((m[3] ?? '').padEnd(9, '0'));
  return m[1] ? -nano : nano;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
