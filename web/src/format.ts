/** How the console writes money and time. The API's numbers are exact decimal strings or numbers of dollars. */

/** A dollar number with up to 9 decimals: all of them shown, trimmed, with at least cents. */
export function money(n: unknown): string {
  if (typeof n !== 'number') return '–';
  const [whole, frac = ''] = n.toFixed(9).split('.');
  const f = frac.replace(/0+$/, '');
  return '$' + whole + '.' + (f.length < 2 ? f.padEnd(2, '0') : f);
}

/** An exact decimal string of dollars (the balance stream, the admin API). */
export const dollars = (s: string) => '$' + (/\.\d$/.test(s) ? s + '0' : s.includes('.') ? s : s + '.00');

/** Unix seconds as local date and time. */
export const when = (s: number | null | undefined) => (s ? new Date(s * 1000).toLocaleString() : '');

/** A duration in seconds, to the minute (an open hold's age). */
export function age(seconds: number): string {
  const m = Math.floor(seconds / 60);
  if (m < 1) return `${seconds} s`;
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}
