/**
 * Raw HTTP(S) requests for adapter tests: exact body bytes, chunked or with a declared
 * length, which `fetch` does not let a test choose.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface SendOptions {
  method?: string;
  headers?: Record<string, string>;
  /** The body bytes; omitted: none. */
  body?: string | Buffer;
  /** Send the body chunked (no Content-Length), even an empty one. */
  chunked?: boolean;
  /**
   * The request target as sent, in place of the URL's path and query: an absolute-form
   * target (`http://host/path`) or a path no URL parser has normalised.
   */
  target?: string;
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json(): any;
}

/** Sends one request to `url` (http: or https:, self-signed certificates accepted) and reads the whole answer. */
export function send(url: string, options: SendOptions = {}): Promise<Answer> {
  const target = new URL(url);
  const headers: Record<string, string> = { ...options.headers };
  if (options.chunked) headers['transfer-encoding'] = 'chunked';
  else if (options.body !== undefined) headers['content-length'] = String(Buffer.byteLength(options.body));
  const request = (target.protocol === 'https:' ? httpsRequest : httpRequest)({
    host: target.hostname,
    port: target.port,
    path: options.target ?? target.pathname + target.search,
    method: options.method ?? 'POST',
    headers,
    rejectUnauthorized: false,
    agent: false,
  });
  return new Promise((resolve, reject) => {
    request.on('error', reject);
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: response.statusCode ?? 0, headers: response.headers, text, json: () => JSON.parse(text) });
      });
    });
    request.end(options.body);
  });
}
