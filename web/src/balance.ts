import { $ } from './dom.js';
import { dollars } from './format.js';

/** The live balance: server-sent events fed by ledger changes (no polling). */
let events: EventSource | null = null;

export function followBalance(changed: () => void) {
  stopBalance();
  events = new EventSource('/console/api/balance/events');
  events.addEventListener('balance', (e) => {
    const b = JSON.parse((e as MessageEvent<string>).data);
    $('available').textContent = dollars(b.available_usd);
    $('held').textContent = dollars(b.held_usd);
    $('updated').textContent = '· live, updated ' + new Date().toLocaleTimeString();
    changed();
  });
  events.onerror = () => {
    $('updated').textContent = '· reconnecting…';
  };
}

export function stopBalance() {
  events?.close();
  events = null;
}
