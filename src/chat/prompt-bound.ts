// Upper bound of the prompt tokens an upstream can bill for a request, without knowing its tokenizer.
//
// Every tokenizer in use on chat models (byte-level BPE, SentencePiece with byte fallback) emits at
// least one byte of text per token, so the UTF-8 size of the request is an upper bound of the text
// it carries: the JSON syntax around each message more than covers the few tokens a chat template
// wraps it in. Images are the exception (their bytes say nothing about their tokens), so each
// counts as a fixed generous amount; templates that render tool definitions add instructions of
// their own, hence the extra slack when tools are present.

/** Above the largest per-image charge of the common vision models (OpenAI high detail, Claude, Gemini). */
export const IMAGE_PART_BOUND_TOKENS = 4_096;
/** System text some chat templates add to every prompt (BOS, default system prompt, date header). */
export const TEMPLATE_SLACK_TOKENS = 64;
/** Instructions that templates add around tool definitions. */
export const TOOLS_SLACK_TOKENS = 512;

const IMAGE_PART_TYPES = new Set(['image_url', 'input_image', 'image']);
/**
 * How an image part's type shows in the request's JSON. Text that merely mentions one is escaped
 * there (`\"type\":...`), so it never matches; a match only sends the request the slow way.
 */
const IMAGE_PART_JSON = /"type":"(?:image_url|input_image|image)"/;

export function promptTokenBound(request: Readonly<Record<string, unknown>>): number {
  let images = 0;
  // Nearly every request carries no image: one plain stringify, without calling back into
  // JavaScript for every value, then the replacing one only where an image part may be.
  let json = JSON.stringify(request);
  if (IMAGE_PART_JSON.test(json)) {
    json = JSON.stringify(request, (_key, value: unknown) => {
      if (value !== null && typeof value === 'object' && IMAGE_PART_TYPES.has((value as { type?: unknown }).type as string)) {
        images += 1;
        return null;
      }
      return value;
    });
  }
  const hasTools = Array.isArray(request.tools) || Array.isArray(request.functions);
  return (
    Buffer.byteLength(json, 'utf8') +
    images * IMAGE_PART_BOUND_TOKENS +
    TEMPLATE_SLACK_TOKENS +
    (hasTools ? TOOLS_SLACK_TOKENS : 0)
  );
}
