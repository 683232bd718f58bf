import type { Request, RequestHandler } from 'express';
import multer from 'multer';
import { checkUploads, MAX_INPUT_IMAGE_BYTES, type InputImage, type InputImageRole } from '../../generations/input-images.js';
import { ApiError, invalidRequest } from '../errors.js';

// Multipart bodies of the generation routes: text fields plus the image files each route names. Files
// are kept in memory (a request holds at most the caps of input-images.ts) and checked before anything
// is stored or held, so a refused upload changes nothing.

const MB = 1024 * 1024;

/**
 * Parses a multipart body (a JSON body passes through untouched), taking files only in `fields`
 * (field name → most files); a file over the per-file cap is a 413, any other refusal a 400.
 */
export function multipartWithImages(fields: Record<string, number>): RequestHandler {
  const maxFiles = Object.values(fields).reduce((a, b) => a + b, 0);
  const parse = multer({
    storage: multer.memoryStorage(),
    limits: { fields: 24, fieldSize: 64 * 1024, fileSize: MAX_INPUT_IMAGE_BYTES, files: maxFiles, parts: 24 + maxFiles },
  }).fields(Object.entries(fields).map(([name, maxCount]) => ({ name, maxCount })));
  return (req, res, next) =>
    parse(req, res, (err?: unknown) => {
      if (!err || err instanceof ApiError) return next(err);
      const e = err as { name?: string; code?: string; field?: string; message?: string };
      const param = e.field?.replace(/\[\]$/, '') ?? null;
      if (e.name !== 'MulterError') return next(invalidRequest(`Invalid multipart body: ${e.message ?? 'malformed'}.`, null, 'invalid_multipart'));
      if (e.code === 'LIMIT_FILE_SIZE') {
        return next(new ApiError(413, 'invalid_request_error', 'file_too_large', `Each uploaded image must be at most ${MAX_INPUT_IMAGE_BYTES / MB} MB.`, param));
      }
      if (e.code === 'LIMIT_UNEXPECTED_FILE') {
        const accepted = Object.keys(fields).map((f) => `'${f}'`).join(', ');
        return next(invalidRequest(`The field '${e.field}' does not take a file here (files go in ${accepted}), or it has too many.`, param, 'unexpected_file'));
      }
      next(invalidRequest(`Invalid multipart body: ${e.message}.`, param, 'invalid_multipart'));
    });
}

/** The uploaded files, checked for type and size against the caps; the role each field plays comes from `roleOf`. */
export function uploadedImages(req: Request, roleOf: (field: string) => InputImageRole | undefined): InputImage[] {
  const byField = (req.files ?? {}) as Record<string, Express.Multer.File[]>;
  const uploads = Object.values(byField).flat().map((f) => ({ field: f.fieldname, bytes: f.buffer }));
  const checked = checkUploads(uploads, roleOf);
  if (!checked.ok) {
    if (checked.status === 413) throw new ApiError(413, 'invalid_request_error', 'file_too_large', checked.message, checked.param);
    throw invalidRequest(checked.message, checked.param, 'invalid_image');
  }
  return checked.images;
}
