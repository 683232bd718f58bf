import { describe, expect, it } from 'vitest';
import { imageParamsFor, progressEstimate, videoParamsFor } from '../../src/generations/generation-params.js';

describe('image size mapping', () => {
  it.each([
    [undefined, {}],
    ['auto', {}],
    ['1024x1024', { aspectRatio: '1:1', imageSize: '1K' }],
    ['1536x1024', { aspectRatio: '3:2', imageSize: '2K' }],
    ['1024x1536', { aspectRatio: '2:3', imageSize: '2K' }],
    ['1792x1024', { aspectRatio: '16:9', imageSize: '2K' }],
    ['3840x1600', { aspectRatio: '21:9', imageSize: '4K' }],
  ])('%s → %j', (size, expected) => {
    expect(imageParamsFor(size)).toEqual({ ok: true, value: expected });
  });

  it.each(['big', '10x10', '1024x', '99999x1'])('refuses %s', (size) => {
    expect(imageParamsFor(size).ok).toBe(false);
  });
});

describe('video size and duration mapping', () => {
  it('maps OpenAI sizes onto Veo aspect ratio and resolution', () => {
    expect(videoParamsFor('720x1280', '4')).toEqual({ ok: true, value: { aspectRatio: '9:16', resolution: '720p', durationSeconds: 4 } });
    expect(videoParamsFor('1792x1024', '8')).toEqual({ ok: true, value: { aspectRatio: '16:9', resolution: '1080p', durationSeconds: 8 } });
  });

  it('refuses what Veo cannot make', () => {
    expect(videoParamsFor('640x480', '8')).toMatchObject({ ok: false });
    expect(videoParamsFor('1280x720', '12')).toMatchObject({ ok: false, message: expect.stringMatching(/^seconds/) });
    expect(videoParamsFor('3840x2160', '6')).toMatchObject({ ok: false });
  });
});

describe('progress estimate', () => {
  it('grows in steps of 5 and stops at 95 until the provider says done', () => {
    expect(progressEstimate(0, 60_000)).toBe(0);
    expect(progressEstimate(30_000, 60_000)).toBe(50);
    expect(progressEstimate(31_000, 60_000)).toBe(50);
    expect(progressEstimate(600_000, 60_000)).toBe(95);
  });
});
