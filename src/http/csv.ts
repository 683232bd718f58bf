/**
 * CSV per RFC 4180: CRLF line ends; a field holding a comma, quote, CR or LF is quoted with its
 * quotes doubled; null is an empty field.
 */
export type CsvValue = string | number | boolean | null;

function field(v: CsvValue): string {
  if (v === null) return '';
  const text = String(v);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function csvLine(values: readonly CsvValue[]): string {
  return values.map(field).join(',') + '\r\n';
}
