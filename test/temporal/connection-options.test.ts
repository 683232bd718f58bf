import { describe, expect, it } from 'vitest';
import { temporalConnectionOptions } from '../../src/temporal/connection-options.js';

const files: Record<string, string> = { '/c.pem': 'CERT', '/c.key': 'KEY', '/ca.pem': 'CA' };
const read = (f: string) => {
  if (!(f in files)) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
  return Buffer.from(files[f]!);
};

describe('Temporal connection options (client and worker)', () => {
  it('connects in plain text when nothing secures the cluster (the embedded dev server)', () => {
    expect(temporalConnectionOptions('127.0.0.1:7233', {}, read)).toEqual({ address: '127.0.0.1:7233' });
  });

  it('presents the client certificate pair, CA and server name for mTLS', () => {
    const o = temporalConnectionOptions('t:7233', { tls: { certFile: '/c.pem', keyFile: '/c.key', caFile: '/ca.pem', serverName: 'temporal.internal' } }, read);
    expect(o).toEqual({
      address: 't:7233',
      tls: {
        serverNameOverride: 'temporal.internal',
        serverRootCACertificate: Buffer.from('CA'),
        clientCertPair: { crt: Buffer.from('CERT'), key: Buffer.from('KEY') },
      },
    });
  });

  it('sends an API key over TLS (Temporal Cloud)', () => {
    expect(temporalConnectionOptions('ns.acct.tmprl.cloud:7233', { apiKey: 'secret' }, read)).toEqual({ address: 'ns.acct.tmprl.cloud:7233', tls: true, apiKey: 'secret' });
  });

  it('names the variable of a certificate file it cannot read', () => {
    expect(() => temporalConnectionOptions('t:7233', { tls: { certFile: '/missing.pem', keyFile: '/c.key' } }, read)).toThrow(/^TEMPORAL_TLS_CERT: cannot read \/missing\.pem \(ENOENT\)/);
  });
});
