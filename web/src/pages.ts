import { $ } from './dom.js';

/**
 * The customer console's pages: sections tagged data-page, shown by the address's hash (#/usage),
 * so the back button and links (the 402 message's "Add credit" lives on #/billing) work.
 */
export type Page = 'overview' | 'billing' | 'usage' | 'generations' | 'keys' | 'quickstart';
const PAGES: readonly Page[] = ['overview', 'billing', 'usage', 'generations', 'keys', 'quickstart'];

export function currentPage(): Page {
  const name = location.hash.replace(/^#\//, '');
  return (PAGES as readonly string[]).includes(name) ? (name as Page) : 'overview';
}

export function showPage(page: Page) {
  for (const section of document.querySelectorAll<HTMLElement>('#app [data-page]')) section.hidden = section.dataset.page !== page;
  for (const link of document.querySelectorAll<HTMLAnchorElement>('#tabs a')) {
    if (link.dataset.page === page) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

export function followPages(opened: (page: Page) => void) {
  window.addEventListener('hashchange', () => {
    if (location.hash.startsWith('#/link/')) return;
    showPage(currentPage());
    opened(currentPage());
  });
}

export function showTabs(shown: boolean) {
  $('tabs').hidden = !shown;
}
