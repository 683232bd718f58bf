// The slice of OpenAI's embeddings wire format that the gateway reads or writes.

export interface EmbeddingsRequest {
  model: string;
  input: string | string[] | number[] | number[][];
  encoding_format?: 'float' | 'base64';
  dimensions?: number;
  user?: string;
}

export interface EmbeddingItem {
  object: 'embedding';
  index: number;
  /** Floats, or base64 little-endian float32 when `encoding_format` was `base64`. */
  embedding: number[] | string;
}

export interface EmbeddingsResponse {
  object: 'list';
  data: EmbeddingItem[];
  model: string;
  usage?: { prompt_tokens: number; total_tokens: number; [field: string]: unknown };
  [field: string]: unknown;
}
