import { describe, expect, it } from 'vitest';
import { checkUploads, MAX_INPUT_IMAGE_BYTES, MAX_INPUT_TOTAL_BYTES, sniffImageType } from '../../src/generations/input-images.js';

const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);
const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16]);
const WEBP = Buffer.concat([Buffer.from('RIFF'), Buffer.alloc(4), Buffer.from('WEBPVP8 ')]);
const padded = (head: Buffer, size: number) => Buffer.concat([head, Buffer.alloc(size - head.length)]);
const roles = (field: string) => (field === 'mask' ? 'mask' : field === 'image' ? 'image' : undefined);

describe('uploaded images', () => {
  it('are recognised by their signature, not by what the caller claims', () => {
    expect(sniffImageType(PNG)).toBe('image/png');
    expect(sniffImageType(JPEG)).toBe('image/jpeg');
    expect(sniffImageType(WEBP)).toBe('image/webp');
    expect(sniffImageType(Buffer.from('GIF89a......'))).toBeUndefined();
    expect(sniffImageType(Buffer.alloc(0))).toBeUndefined();
  });

  it('are accepted in order with their roles and types', () => {
    const checked = checkUploads([{ field: 'image', bytes: JPEG }, { field: 'image', bytes: WEBP }, { field: 'mask', bytes: PNG }], roles);
    expect(checked).toEqual({ ok: true, images: [
      { role: 'image', bytes: JPEG, contentType: 'image/jpeg' },
      { role: 'image', bytes: WEBP, contentType: 'image/webp' },
      { role: 'mask', bytes: PNG, contentType: 'image/png' },
    ] });
  });

  it('are refused with 400 for a wrong field, type or mask, and 413 over a cap', () => {
    expect(checkUploads([{ field: 'other', bytes: PNG }], roles)).toMatchObject({ ok: false, status: 400, param: 'other' });
    expect(checkUploads([{ field: 'image', bytes: Buffer.from('text') }], roles)).toMatchObject({ ok: false, status: 400, param: 'image' });
    expect(checkUploads([{ field: 'mask', bytes: JPEG }], roles)).toMatchObject({ ok: false, status: 400, param: 'mask' });
    expect(checkUploads([{ field: 'image', bytes: padded(PNG, MAX_INPUT_IMAGE_BYTES + 1) }], roles)).toMatchObject({ ok: false, status: 413 });
    const half = padded(PNG, Math.ceil(MAX_INPUT_TOTAL_BYTES / 2) + 1);
    expect(checkUploads([{ field: 'image', bytes: padded(PNG, MAX_INPUT_IMAGE_BYTES) }], roles).ok).toBe(true);
    expect(checkUploads([{ field: 'image', bytes: half }, { field: 'image', bytes: half }], roles)).toMatchObject({ ok: false, status: 413 });
  });
});
