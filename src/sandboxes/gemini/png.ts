// A minimal PNG encoder (8-bit RGB, no interlace) so the simulated provider can hand out real, viewable images
// without an imaging dependency. Spec: https://www.w3.org/TR/png-3/ (signature, IHDR, IDAT, IEND).
import { createHash } from 'node:crypto';
import { crc32, deflateSync } from 'node:zlib';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

/** Encodes `rgb` (width × height × 3 bytes, row-major) as a PNG file. */
export function encodePng(width: number, height: number, rgb: Uint8Array): Buffer {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError('PNG dimensions must be positive integers');
  }
  if (rgb.length !== width * height * 3) throw new RangeError('pixel buffer does not match the dimensions');
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: truecolour
  // bytes 10–12: deflate compression, adaptive filtering, no interlace (all zero)
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    // each scanline starts with filter type 0 (None)
    Buffer.from(rgb.buffer, rgb.byteOffset + y * width * 3, width * 3).copy(raw, y * (width * 3 + 1) + 1);
  }
  return Buffer.concat([SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** Pixel size for an aspect ratio such as "16:9", with the short side `shortSide` pixels. */
export function dimensionsFor(aspectRatio: string | undefined, shortSide = 64): { width: number; height: number } {
  const match = /^(\d{1,2}):(\d{1,2})$/.exec(aspectRatio ?? '');
  const [w, h] = match ? [Number(match[1]), Number(match[2])] : [1, 1];
  if (!w || !h) return { width: shortSide, height: shortSide };
  return w >= h
    ? { width: Math.round((shortSide * w) / h), height: shortSide }
    : { width: shortSide, height: Math.round((shortSide * h) / w) };
}

/** A deterministic picture derived from the prompt: the same prompt always yields the same bytes. */
export function promptPicture(prompt: string, aspectRatio?: string): Buffer {
  const seed = createHash('sha256').update(prompt).digest();
  const { width, height } = dimensionsFor(aspectRatio);
  const a = [seed[0], seed[1], seed[2]];
  const b = [seed[3], seed[4], seed[5]];
  const cell = 4 + (seed[6] % 12);
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const t = (x + y) / (width + height - 2 || 1);
      const checker = (Math.floor(x / cell) + Math.floor(y / cell)) % 2 === 0 ? 1 : 0.8;
      for (let c = 0; c < 3; c++) {
        rgb[(y * width + x) * 3 + c] = Math.round((a[c] * (1 - t) + b[c] * t) * checker);
      }
    }
  }
  return encodePng(width, height, rgb);
}

/** The simulated edit: derived from the prompt and the exact bytes of every input image, in order. */
export function editedPicture(prompt: string, inputs: Buffer[], aspectRatio?: string): Buffer {
  const digest = createHash('sha256');
  for (const input of inputs) digest.update(createHash('sha256').update(input).digest());
  return promptPicture(`edit:${digest.digest('hex')}:${prompt}`, aspectRatio);
}
