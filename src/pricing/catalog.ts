import { readFileSync } from 'node:fs';
import { z } from 'zod';

/**
 * The model catalog: what each public model costs and where it is served. Prices are integer
 * nano-dollars (token rates per 1,000,000 tokens). The data file is versioned with the code;
 * a price change is a reviewed commit, never a runtime edit.
 */

const nanos = z.number().int().nonnegative().transform((n) => BigInt(n));

const chatModel = z.object({
  id: z.string(),
  kind: z.literal('chat'),
  family: z.string(),
  provider: z.literal('upstream'),
  upstream_model: z.string(),
  /**
   * Other ids a client may send for this model: the provider's dated snapshots and its own
   * spelling (`gpt-5.2-2025-12-11`, `claude-sonnet-4-5-20250929`), which SDKs and agents default to.
   */
  aliases: z.array(z.string().min(1)).optional(),
  input_nanos_per_million: nanos,
  output_nanos_per_million: nanos,
  /** Prompt tokens the provider read from its cache; plain input rate when absent. */
  cached_input_nanos_per_million: nanos.optional(),
  /** Prompt tokens the provider wrote to its cache (Anthropic); plain input rate when absent. */
  cache_write_nanos_per_million: nanos.optional(),
  context_window: z.number().int().positive(),
  max_output_tokens: z.number().int().positive(),
});

/** Priced per input token only; `dimensions` is the native vector size. */
const embeddingModel = z.object({
  id: z.string(),
  kind: z.literal('embedding'),
  family: z.string(),
  provider: z.literal('upstream'),
  upstream_model: z.string(),
  input_nanos_per_million: nanos,
  dimensions: z.number().int().positive(),
  /** Whether the model can return shorter vectors on request (OpenAI's `dimensions`). */
  custom_dimensions: z.boolean(),
  /** Longest single input, in tokens. */
  max_input_tokens: z.number().int().positive(),
});

const generationModel = z.object({
  id: z.string(),
  kind: z.enum(['image', 'video']),
  family: z.string(),
  provider: z.literal('gemini'),
  upstream_model: z.string(),
  per_generation_nanos: nanos,
});

const catalogFile = z.object({
  version: z.string(),
  models: z.array(z.discriminatedUnion('kind', [chatModel, embeddingModel, generationModel])),
});

export type ChatModel = z.output<typeof chatModel>;
export type EmbeddingModel = z.output<typeof embeddingModel>;
export type GenerationModel = z.output<typeof generationModel>;
export type CatalogModel = ChatModel | EmbeddingModel | GenerationModel;

export class Catalog {
  private readonly byId: Map<string, CatalogModel>;
  /** Snapshot ids → their chat model; never shadowing a model's own id. */
  private readonly byAlias = new Map<string, ChatModel>();

  constructor(
    readonly version: string,
    readonly models: readonly CatalogModel[],
  ) {
    this.byId = new Map(models.map((m) => [m.id, m]));
    if (this.byId.size !== models.length) throw new Error('catalog has duplicate model ids');
    for (const m of models) {
      if (m.kind !== 'chat') continue;
      for (const alias of m.aliases ?? []) {
        if (this.byId.has(alias) || this.byAlias.has(alias)) throw new Error(`catalog alias ${alias} of ${m.id} is already a model id or alias`);
        this.byAlias.set(alias, m);
      }
    }
  }

  get(id: string): CatalogModel | undefined {
    return this.byId.get(id);
  }

  /**
   * A chat model by its id, by a snapshot alias the catalog lists (`gpt-5.2-2025-12-11`), or by an
   * OpenRouter-style `vendor/id` (`anthropic/claude-opus-4.5`, `anthropic/claude-opus-4-5-20251101`).
   */
  chat(id: string): ChatModel | undefined {
    const m = this.byId.get(id) ?? this.byAlias.get(id) ?? this.aliased(id);
    return m?.kind === 'chat' ? m : undefined;
  }

  /**
   * `vendor/id` names the vendor in front of our id, as OpenRouter does. The vendor must be the
   * model's family (`openai`, `anthropic`, `google`); open-weight models are published by many
   * (`meta-llama/…`, `qwen/…`), so any vendor is taken for them.
   */
  private aliased(id: string): CatalogModel | undefined {
    const slash = id.indexOf('/');
    if (slash <= 0) return undefined;
    const rest = id.slice(slash + 1).toLowerCase();
    const m = this.byId.get(rest) ?? this.byAlias.get(rest);
    const vendor = id.slice(0, slash).toLowerCase();
    return m && (m.family === vendor || m.family === 'open-weight') ? m : undefined;
  }

  embedding(id: string): EmbeddingModel | undefined {
    const m = this.byId.get(id);
    return m?.kind === 'embedding' ? m : undefined;
  }

  generation(id: string): GenerationModel | undefined {
    const m = this.byId.get(id);
    return m?.kind === 'image' || m?.kind === 'video' ? m : undefined;
  }
}

export function parseCatalog(json: unknown): Catalog {
  const file = catalogFile.parse(json);
  return new Catalog(file.version, file.models);
}

let loaded: Catalog | undefined;

/** The catalog shipped in src/pricing/catalog.json, parsed once. */
export function defaultCatalog(): Catalog {
  loaded ??= parseCatalog(JSON.parse(readFileSync(new URL('./catalog.json', import.meta.url), 'utf8')));
  return loaded;
}
