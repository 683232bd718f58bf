/**
 * How a sandbox provider delivers its webhooks: at least once, retried with backoff on failure,
 * each attempt recorded. Tests can withhold deliveries ("hold") and then deliver chosen events,
 * in any order and any number of times, to play lost, late, duplicate and reordered webhooks.
 */
import express, { type Router } from 'express';

export interface DeliveryAttempt {
  at: number;
  status: number | null;
  error?: string;
}

export interface OutboundWebhook {
  id: string;
  url: string;
  body: string;
  createdAt: number;
  delivered: boolean;
  attempts: DeliveryAttempt[];
}

/** auto: deliver as the provider would; hold: record only, until deliver() is called. */
export type DeliveryMode = 'auto' | 'hold';

export interface WebhookOutboxOptions {
  /** The list lives in the sandbox's persisted state. */
  store: OutboundWebhook[];
  onChange: () => void;
  /** Headers for one attempt (Stripe signs every attempt with a fresh timestamp). */
  headers: (body: string) => Record<string, string>;
  retryDelaysMs?: readonly number[];
  timeoutMs?: number;
}

const DEFAULT_RETRY_DELAYS_MS = [1_000, 5_000, 30_000];
/** Oldest delivered events are forgotten past this many, so a long-running sandbox stays small. */
const MAX_KEPT = 5_000;

export class WebhookOutbox {
  mode: DeliveryMode = 'auto';
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly inFlight = new Set<Promise<DeliveryAttempt>>();
  private closed = false;

  constructor(private readonly opts: WebhookOutboxOptions) {}

  list(): readonly OutboundWebhook[] {
    return this.opts.store;
  }

  enqueue(id: string, url: string, body: string): OutboundWebhook {
    const hook: OutboundWebhook = { id, url, body, createdAt: Date.now(), delivered: false, attempts: [] };
    this.opts.store.push(hook);
    this.trim();
    this.opts.onChange();
    if (this.mode === 'auto') void this.sendWithRetries(hook);
    return hook;
  }

  /** One attempt now, whatever the mode and whether it was delivered before. */
  deliver(id: string): Promise<DeliveryAttempt> {
    const hook = this.opts.store.find((h) => h.id === id);
    if (!hook) throw new Error(`no webhook ${id}`);
    return this.attempt(hook);
  }

  /** After a restart: what was never delivered goes out again (in auto mode). */
  resume(): void {
    if (this.mode !== 'auto') return;
    for (const hook of this.opts.store) if (!hook.delivered) void this.sendWithRetries(hook);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled([...this.inFlight]);
  }

  private async sendWithRetries(hook: OutboundWebhook): Promise<void> {
    const delays = this.opts.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
    const result = await this.attempt(hook);
    if (result.status !== null && result.status < 300) return;
    const retriesSoFar = hook.attempts.length - 1;
    const delay = delays[retriesSoFar];
    if (delay === undefined || this.closed || this.mode !== 'auto') return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!hook.delivered && !this.closed) void this.sendWithRetries(hook);
    }, delay);
    timer.unref();
    this.timers.add(timer);
  }

  private attempt(hook: OutboundWebhook): Promise<DeliveryAttempt> {
    const run = (async (): Promise<DeliveryAttempt> => {
      const at = Date.now();
      let result: DeliveryAttempt;
      try {
        const res = await fetch(hook.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json; charset=utf-8', ...this.opts.headers(hook.body) },
          body: hook.body,
          signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000),
        });
        await res.arrayBuffer();
        result = { at, status: res.status };
      } catch (err) {
        result = { at, status: null, error: err instanceof Error ? err.message : String(err) };
      }
      hook.attempts.push(result);
      if (result.status !== null && result.status < 300) hook.delivered = true;
      this.opts.onChange();
      return result;
    })();
    this.inFlight.add(run);
    void run.finally(() => this.inFlight.delete(run));
    return run;
  }

  private trim(): void {
    const store = this.opts.store;
    let excess = store.length - MAX_KEPT;
    for (let i = 0; i < store.length && excess > 0; ) {
      if (store[i]!.delivered) {
        store.splice(i, 1);
        excess--;
      } else i++;
    }
  }
}

/** Sandbox-only control routes (not part of any provider's API) to hold and replay deliveries. */
export function mountWebhookControl(router: Router, webhooks: WebhookOutbox): void {
  router.get('/_sandbox/webhooks', (_req, res) => void res.json({ mode: webhooks.mode, data: webhooks.list() }));
  router.put('/_sandbox/webhooks/mode', express.json(), (req, res) => {
    const mode = req.body?.mode;
    if (mode !== 'auto' && mode !== 'hold') return void res.status(400).json({ error: 'mode must be "auto" or "hold"' });
    webhooks.mode = mode;
    res.json({ mode });
  });
  router.post('/_sandbox/webhooks/:id/deliver', async (req, res) => {
    const id = String(req.params.id);
    if (!webhooks.list().some((h) => h.id === id)) return void res.status(404).json({ error: `no webhook ${id}` });
    res.json(await webhooks.deliver(id));
  });
}
