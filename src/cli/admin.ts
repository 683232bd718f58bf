import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

/**
 * `npm run admin -- <command>`: the admin API from a terminal. It talks HTTP to the running
 * service (so it goes through the same validation and audit trail), finding the admin token in
 * ADMIN_TOKEN or DATA_DIR/admin-token and the service at CHEAPA_URL or http://127.0.0.1:PORT.
 */
const USAGE = `usage: npm run admin -- <command> [options]

  create-account --name NAME --email EMAIL
  account ACCOUNT_ID
  create-key ACCOUNT_ID [--name NAME]
  revoke-key KEY_ID
  adjust ACCOUNT_ID --amount USD --reason TEXT [--request-ids req_1,req_2] [--idempotency-key KEY]
  reconcile
  support                      (open support requests)

environment: CHEAPA_URL (default http://127.0.0.1:$PORT), ADMIN_TOKEN (default: contents of $DATA_DIR/admin-token)`;

async function main() {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      email: { type: 'string' },
      amount: { type: 'string' },
      reason: { type: 'string' },
      'request-ids': { type: 'string' },
      'idempotency-key': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, arg] = positionals;
  if (!command || values.help) return exit(USAGE, command ? 0 : 2);

  const base = (process.env.CHEAPA_URL ?? `http://127.0.0.1:${process.env.PORT ?? 8080}`).replace(/\/+$/, '');
  const token = process.env.ADMIN_TOKEN ?? readToken();
  const need = (v: string | undefined, what: string) => v ?? exit(`missing ${what}\n\n${USAGE}`, 2);

  const call = async (method: string, p: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(base + p, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
      body: body ? JSON.stringify(body) : undefined,
    }).catch((err: Error) => exit(`cannot reach ${base}: ${err.message} (is \`npm start\` running?)`, 1));
    const text = await res.text();
    console.log(text.startsWith('{') || text.startsWith('[') ? JSON.stringify(JSON.parse(text), null, 2) : text);
    if (!res.ok) process.exitCode = 1;
  };

  switch (command) {
    case 'create-account':
      return call('POST', '/admin/accounts', { name: need(values.name, '--name'), email: need(values.email, '--email') });
    case 'account':
      return call('GET', `/admin/accounts/${encodeURIComponent(need(arg, 'ACCOUNT_ID'))}`);
    case 'create-key':
      return call('POST', `/admin/accounts/${encodeURIComponent(need(arg, 'ACCOUNT_ID'))}/keys`, { name: values.name ?? 'default' });
    case 'revoke-key':
      return call('DELETE', `/admin/keys/${encodeURIComponent(need(arg, 'KEY_ID'))}`);
    case 'adjust':
      return call(
        'POST',
        `/admin/accounts/${encodeURIComponent(need(arg, 'ACCOUNT_ID'))}/adjustments`,
        {
          amount_usd: need(values.amount, '--amount'),
          reason: need(values.reason, '--reason'),
          request_ids: values['request-ids']?.split(',').map((s) => s.trim()).filter(Boolean),
        },
        values['idempotency-key'] ? { 'idempotency-key': values['idempotency-key'] } : {},
      );
    case 'reconcile':
      return call('POST', '/admin/reconcile');
    case 'support':
      return call('GET', '/admin/support');
    default:
      return exit(`unknown command ${command}\n\n${USAGE}`, 2);
  }
}

function readToken(): string {
  const file = path.join(path.resolve(process.env.DATA_DIR ?? '.data'), 'admin-token');
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return exit(`no ADMIN_TOKEN set and ${file} not found`, 2);
  }
}

function exit(message: string, code: number): never {
  (code === 0 ? console.log : console.error)(message);
  process.exit(code);
}

main().catch((err) => exit(String(err), 1));
