import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { buffer } from 'node:stream/consumers';
import { SignatureV4 } from '@smithy/signature-v4';

/**
 * A local server speaking the S3 REST subset the asset store uses: path-style PUT/GET/DELETE of
 * objects kept in memory, every request's SigV4 signature (header or pre-signed query) checked by
 * recomputing it (headers: with the SDK's own signer; pre-signed links: by the S3 docs' recipe), the payload hash checked, XML errors as S3 sends them.
 */
export interface LocalS3 {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** Objects by path, `/bucket/key`. */
  objects: Map<string, { body: Buffer; type: string }>;
  close(): Promise<void>;
}

type Bytes = string | ArrayBuffer | ArrayBufferView;
const toBuffer = (data: Bytes) =>
  typeof data === 'string' ? Buffer.from(data) : ArrayBuffer.isView(data) ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.from(data);

class NodeSha256 {
  private readonly hash;
  constructor(secret?: Bytes) {
    this.hash = secret ? createHmac('sha256', toBuffer(secret)) : createHash('sha256');
  }
  update(data: Bytes) {
    this.hash.update(toBuffer(data));
  }
  async digest() {
    return new Uint8Array(this.hash.digest());
  }
  reset() {}
}

const AMZ_DATE = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/;
const dateOf = (amz: string) => new Date(amz.replace(AMZ_DATE, '$1-$2-$3T$4:$5:$6Z'));

const rfc3986 = (v: string) => encodeURIComponent(v).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();

/** The query-string signature as the S3 docs define it ("Authenticating Requests: Using Query Parameters"). */
function presignedSignature(url: URL, req: http.IncomingMessage, secret: string, region: string): string {
  const amzDate = url.searchParams.get('X-Amz-Date')!;
  const signedHeaders = (url.searchParams.get('X-Amz-SignedHeaders') ?? '').split(';');
  const query = [...url.searchParams]
    .filter(([k]) => k !== 'X-Amz-Signature')
    .map(([k, v]) => [rfc3986(k), rfc3986(v)])
    .sort(([a], [b]) => (a! < b! ? -1 : a! > b! ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonical = [
    req.method,
    url.pathname,
    query,
    signedHeaders.map((h) => `${h}:${String(req.headers[h]).trim()}\n`).join(''),
    signedHeaders.join(';'),
    url.searchParams.get('X-Amz-Content-Sha256') ?? 'UNSIGNED-PAYLOAD',
  ].join('\n');
  const scope = `${amzDate.slice(0, 8)}/${region}/s3/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, amzDate.slice(0, 8)), region), 's3'), 'aws4_request');
  return createHmac('sha256', key).update(toSign).digest('hex');
}

export async function startLocalS3(): Promise<LocalS3> {
  const region = 'us-east-1';
  const credentials = { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local-secret' };
  const signer = new SignatureV4({ service: 's3', region, credentials, sha256: NodeSha256, uriEscapePath: false, applyChecksum: false });
  const objects = new Map<string, { body: Buffer; type: string }>();

  function error(res: http.ServerResponse, status: number, code: string) {
    res.writeHead(status, { 'content-type': 'application/xml' }).end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code}</Message></Error>`);
  }

  async function signatureValid(req: http.IncomingMessage, url: URL): Promise<boolean> {
    const [hostname, port] = String(req.headers.host).split(':');
    const base = { method: req.method!, protocol: 'http:', hostname: hostname!, port: Number(port), path: url.pathname };
    const presigned = url.searchParams.get('X-Amz-Signature');
    if (presigned) {
      const amzDate = url.searchParams.get('X-Amz-Date') ?? '';
      const expires = Number(url.searchParams.get('X-Amz-Expires'));
      if (!(expires > 0) || dateOf(amzDate).getTime() + expires * 1000 < Date.now()) return false;
      return presignedSignature(url, req, credentials.secretAccessKey, region) === presigned;
    }
    const auth = String(req.headers.authorization ?? '');
    const signedHeaders = /SignedHeaders=([^,]+)/.exec(auth)?.[1]?.split(';') ?? [];
    if (!auth || signedHeaders.length === 0) return false;
    const headers = Object.fromEntries(signedHeaders.map((h) => [h, String(req.headers[h])]));
    const query = Object.fromEntries(url.searchParams);
    const again = await signer.sign({ ...base, query, headers }, { signingDate: dateOf(String(req.headers['x-amz-date'])) });
    return again.headers.authorization === auth;
  }

  const server = http.createServer(async (req, res) => {
    const body = await buffer(req);
    const url = new URL(req.url!, `http://${req.headers.host}`);
    if (!(await signatureValid(req, url))) return error(res, 403, 'SignatureDoesNotMatch');
    const payloadHash = req.headers['x-amz-content-sha256'];
    if (req.method === 'PUT' && payloadHash !== 'UNSIGNED-PAYLOAD' && createHash('sha256').update(body).digest('hex') !== payloadHash) {
      return error(res, 400, 'XAmzContentSHA256Mismatch');
    }
    const key = decodeURIComponent(url.pathname);
    if (req.method === 'PUT') {
      objects.set(key, { body, type: String(req.headers['content-type']) });
      return res.writeHead(200, { etag: '"x"' }).end();
    }
    const found = objects.get(key);
    if (req.method === 'GET') {
      if (!found) return error(res, 404, 'NoSuchKey');
      return res.writeHead(200, { 'content-type': found.type, 'content-length': found.body.length }).end(found.body);
    }
    if (req.method === 'DELETE') {
      objects.delete(key);
      return res.writeHead(204).end();
    }
    error(res, 405, 'MethodNotAllowed');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    region,
    credentials,
    objects,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
