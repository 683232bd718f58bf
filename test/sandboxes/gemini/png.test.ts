import { crc32, inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { dimensionsFor, encodePng, promptPicture } from '../../../src/sandboxes/gemini/png.js';

function chunks(png: Buffer) {
  const out: { type: string; data: Buffer; crcOk: boolean }[] = [];
  for (let at = 8; at < png.length; ) {
    const length = png.readUInt32BE(at);
    const type = png.subarray(at + 4, at + 8).toString('ascii');
    const data = png.subarray(at + 8, at + 8 + length);
    const crcOk = png.readUInt32BE(at + 8 + length) === crc32(png.subarray(at + 4, at + 8 + length)) >>> 0;
    out.push({ type, data, crcOk });
    at += 12 + length;
  }
  return out;
}

describe('PNG encoder', () => {
  it('writes the signature, valid CRCs and the exact pixels', () => {
    const rgb = Uint8Array.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30]);
    const png = encodePng(2, 2, rgb);
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    const list = chunks(png);
    expect(list.map((c) => c.type)).toEqual(['IHDR', 'IDAT', 'IEND']);
    expect(list.every((c) => c.crcOk)).toBe(true);
    expect(list[0].data.readUInt32BE(0)).toBe(2);
    expect(list[0].data[9]).toBe(2);
    expect(inflateSync(list[1].data)).toEqual(Buffer.from([0, 255, 0, 0, 0, 255, 0, 0, 0, 0, 255, 10, 20, 30]));
  });

  it('refuses a pixel buffer that does not fit the size', () => {
    expect(() => encodePng(2, 2, new Uint8Array(5))).toThrow(RangeError);
  });

  it('sizes pictures by aspect ratio and makes different prompts look different', () => {
    expect(dimensionsFor('9:16')).toEqual({ width: 64, height: 114 });
    expect(dimensionsFor(undefined)).toEqual({ width: 64, height: 64 });
    expect(promptPicture('a').equals(promptPicture('b'))).toBe(false);
  });
});
