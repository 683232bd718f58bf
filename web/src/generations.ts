import { api, errorText } from './api.js';
import { $, esc, fillRows } from './dom.js';
import { money, when } from './format.js';

/** The generations page: the account's images and videos with status, cost and previews (the last 20 of each). */

const prompt = (p: string) => esc(p.length > 80 ? p.slice(0, 80) + '…' : p);

function imageRow(g: any) {
  const previews = g.data.map((img: any, i: number) => `<a href="${esc(img.url)}" target="_blank" rel="noopener"><img class="preview" src="${esc(img.url)}" alt="Image ${i + 1} of ${esc(g.id)}" loading="lazy"></a>`).join('');
  return `<tr><td>${previews}</td><td>${esc(g.id)}</td><td>${when(g.created_at)}</td><td>${esc(g.model)}</td><td title="${esc(g.prompt)}">${prompt(g.prompt)}</td><td class="status-${esc(g.status)}">${esc(g.status)}${g.error ? ': ' + esc(g.error.message) : ''}</td><td class="num">${money(g.cost)}</td></tr>`;
}

function videoRow(v: any) {
  // The session may read a completed video's MP4; it opens in a tab of its own.
  const preview = v.status === 'completed' ? `<a href="/v1/videos/${encodeURIComponent(v.id)}/content" target="_blank" rel="noopener" aria-label="Play ${esc(v.id)}">play</a>` : `${v.progress ?? 0}%`;
  return `<tr><td>${preview}</td><td>${esc(v.id)}</td><td>${when(v.created_at)}</td><td>${esc(v.model)}</td><td title="${esc(v.prompt)}">${prompt(v.prompt)}</td><td class="status-${esc(v.status)}">${esc(v.status)}${v.error ? ': ' + esc(v.error.message) : ''}</td><td class="num">${money(v.cost)}</td></tr>`;
}

export async function refreshGenerations() {
  const [images, videos] = await Promise.allSettled([api('/v1/images?limit=20'), api('/v1/videos?limit=20')]);
  if (images.status === 'fulfilled') fillRows('gen-images', images.value.data.map(imageRow), 7, 'No images yet.');
  $('gen-images-error').textContent = images.status === 'rejected' ? errorText(images.reason) : '';
  if (videos.status === 'fulfilled') fillRows('gen-videos', videos.value.data.map(videoRow), 7, 'No videos yet.');
  $('gen-videos-error').textContent = videos.status === 'rejected' ? errorText(videos.reason) : '';
}

export function clearGenerations() {
  $('gen-images').innerHTML = '';
  $('gen-videos').innerHTML = '';
}
