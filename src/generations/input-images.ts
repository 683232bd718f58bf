// Images a caller uploads for a generation (images to edit, a mask, a video's first frame): which ones
// are accepted, and how large. Pure: the routes check uploads with it before anything is stored or held.
// The caps follow Gemini's: an inline request must stay under 20 MB, and base64 makes bytes a third larger.

export const INPUT_IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/webp'] as const;
export type InputImageType = (typeof INPUT_IMAGE_TYPES)[number];

const MB = 1024 * 1024;
export const MAX_INPUT_IMAGE_BYTES = 10 * MB;
export const MAX_INPUT_TOTAL_BYTES = 14 * MB;
export const MAX_EDIT_IMAGES = 8;

export type InputImageRole = 'image' | 'mask' | 'first_frame';

export interface Upload {
  /** The multipart field it came in (image, image[], mask, input_reference). */
  field: string;
  bytes: Buffer;
}

export interface InputImage {
  role: InputImageRole;
  bytes: Buffer;
  contentType: InputImageType;
}

export type UploadCheck = { ok: true; images: InputImage[] } | { ok: false; status: 400 | 413; param: string; message: string };

/** The type the bytes say they are (their signature), whatever the caller's Content-Type claimed. */
export function sniffImageType(bytes: Buffer): InputImageType | undefined {
  if (bytes.length >= 8 && bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'image/png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
  if (bytes.length >= 12 && bytes.toString('latin1', 0, 4) === 'RIFF' && bytes.toString('latin1', 8, 12) === 'WEBP') return 'image/webp';
  return undefined;
}

/**
 * Checks every upload of one request: a PNG, JPEG or WebP each, each under MAX_INPUT_IMAGE_BYTES, all
 * together under MAX_INPUT_TOTAL_BYTES; `roleOf` names what each field is for (undefined: not accepted).
 */
export function checkUploads(uploads: Upload[], roleOf: (field: string) => InputImageRole | undefined): UploadCheck {
  const images: InputImage[] = [];
  let total = 0;
  for (const upload of uploads) {
    const role = roleOf(upload.field);
    const param = upload.field.replace(/\[\]$/, '');
    if (!role) return { ok: false, status: 400, param, message: `The field '${upload.field}' does not take a file.` };
    if (upload.bytes.length === 0) return { ok: false, status: 400, param, message: `The '${param}' file is empty.` };
    if (upload.bytes.length > MAX_INPUT_IMAGE_BYTES) {
      return { ok: false, status: 413, param, message: `Each '${param}' file must be at most ${MAX_INPUT_IMAGE_BYTES / MB} MB.` };
    }
    const contentType = sniffImageType(upload.bytes);
    if (!contentType) return { ok: false, status: 400, param, message: `The '${param}' file must be a PNG, JPEG or WebP image.` };
    // OpenAI's mask is a PNG whose transparent pixels mark what to change: only PNG carries that alpha.
    if (role === 'mask' && contentType !== 'image/png') return { ok: false, status: 400, param, message: "The 'mask' file must be a PNG image." };
    total += upload.bytes.length;
    if (total > MAX_INPUT_TOTAL_BYTES) {
      return { ok: false, status: 413, param, message: `The uploaded images must be at most ${MAX_INPUT_TOTAL_BYTES / MB} MB together.` };
    }
    images.push({ role, bytes: upload.bytes, contentType });
  }
  return { ok: true, images };
}
