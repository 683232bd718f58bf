import fs from 'node:fs';
import type { TLSConfig } from '@temporalio/client';
import type { Config } from '../config.js';

/** What both Connection.connect (client) and NativeConnection.connect (worker) take to reach a cluster. */
export interface TemporalConnectionOptions {
  address: string;
  tls?: TLSConfig | boolean;
  apiKey?: string;
}

/**
 * A secured cluster: mTLS with a client certificate (self-hosted), an API key (Temporal Cloud,
 * which requires TLS too), or TLS with only a custom CA / server name. The certificate files are
 * read here, at connect time, so a rotated certificate is picked up by the next process start.
 */
export function temporalConnectionOptions(
  address: string,
  temporal: Pick<Config['temporal'], 'tls' | 'apiKey'>,
  readFile: (file: string) => Buffer = (f) => fs.readFileSync(f),
): TemporalConnectionOptions {
  const { tls, apiKey } = temporal;
  if (!tls && !apiKey) return { address };
  const read = (file: string, variable: string): Buffer => {
    try {
      return readFile(file);
    } catch (err) {
      throw new Error(`${variable}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  };
  const config: TLSConfig = {
    ...(tls?.serverName ? { serverNameOverride: tls.serverName } : {}),
    ...(tls?.caFile ? { serverRootCACertificate: read(tls.caFile, 'TEMPORAL_TLS_CA') } : {}),
    ...(tls?.certFile && tls.keyFile
      ? { clientCertPair: { crt: read(tls.certFile, 'TEMPORAL_TLS_CERT'), key: read(tls.keyFile, 'TEMPORAL_TLS_KEY') } }
      : {}),
  };
  return { address, tls: Object.keys(config).length ? config : true, ...(apiKey ? { apiKey } : {}) };
}
