// Embedding vectors as OpenAI's `encoding_format: "base64"` sends them: packed IEEE-754 float32,
// little-endian (what every client decodes on the little-endian machines they run on).

export function encodeVectorBase64(vector: readonly number[]): string {
  const bytes = Buffer.alloc(vector.length * 4);
  for (let i = 0; i < vector.length; i++) bytes.writeFloatLE(vector[i]!, i * 4);
  return bytes.toString('base64');
}

export function decodeVectorBase64(encoded: string): number[] {
  const bytes = Buffer.from(encoded, 'base64');
  if (bytes.length % 4 !== 0) throw new RangeError('a base64 embedding must hold whole float32 values');
  const vector = new Array<number>(bytes.length / 4);
  for (let i = 0; i < vector.length; i++) vector[i] = bytes.readFloatLE(i * 4);
  return vector;
}

/** The vector in the format the caller asked for, whichever format the upstream answered in. */
export function inFormat(embedding: number[] | string, format: 'float' | 'base64'): number[] | string {
  if (format === 'base64') return typeof embedding === 'string' ? embedding : encodeVectorBase64(embedding);
  return typeof embedding === 'string' ? decodeVectorBase64(embedding) : embedding;
}
