/**
 * The real {@link HttpGet}: node:http(s) with an optional CA (fetch in Node cannot take one
 * without an extra dependency), a total timeout, and a cap on the body so a misbehaving server
 * cannot fill the controller's memory.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { HttpGet } from '../gates/alerts.ts';

const MAX_BODY_BYTES = 16 * 1024 * 1024;

export const nodeHttpGet: HttpGet = (url, { headers, ca, timeoutMs }) =>
  new Promise((resolve, reject) => {
    const target = new URL(url);
    const auth =
      target.username !== ''
        ? {
            authorization: `Basic ${Buffer.from(`${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}`).toString('base64')}`,
          }
        : {};
    const signal = AbortSignal.timeout(timeoutMs);
    const options = { method: 'GET', headers: { ...auth, ...headers }, signal };
    const onResponse = (res: import('node:http').IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) {
          res.destroy(new Error(`the answer is larger than ${MAX_BODY_BYTES} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    };
    const req =
      target.protocol === 'https:'
        ? httpsRequest(target, { ...options, ...(ca === undefined ? {} : { ca }) }, onResponse)
        : httpRequest(target, options, onResponse);
    req.on('error', (err) => {
      reject(signal.aborted ? new Error(`no answer within ${timeoutMs} ms`) : err);
    });
    req.end();
  });
