import { $ } from './dom.js';

/** A "Copy" button for a secret shown once (an API key, an alert's signing secret). */
export function wireCopy(buttonId: string, valueId: string, statusId: string) {
  $(buttonId).addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText($(valueId).textContent ?? '');
      $(statusId).textContent = 'Copied.';
    } catch {
      // No clipboard (an http page, a refused permission): select it for a manual copy.
      getSelection()?.selectAllChildren($(valueId));
      $(statusId).textContent = 'Selected: press Ctrl+C (⌘C) to copy.';
    }
  });
}
