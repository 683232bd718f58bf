/** The few DOM helpers every page uses; markup lives in index.html, pages fill it. */

export function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from index.html`);
  return el as T;
}

export const valueOf = (id: string) => $<HTMLInputElement | HTMLSelectElement>(id).value;

/** Text for innerHTML: everything from the API goes through this. */
export const esc = (s: unknown) =>
  String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** A table body's rows, or one muted row saying it is empty. */
export function fillRows(id: string, rows: string[], columns: number, empty: string) {
  $(id).innerHTML = rows.join('') || `<tr><td colspan="${columns}" class="muted">${esc(empty)}</td></tr>`;
}

export function onSubmit(id: string, handler: () => unknown) {
  $(id).addEventListener('submit', (e) => {
    e.preventDefault();
    void handler();
  });
}
