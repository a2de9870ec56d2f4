import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import {
  describeKubeError,
  isAlreadyExists,
  isConflict,
  isTransient,
  normalizeKubeError,
} from './kube-errors.ts';

const status = (code: number, reason: string, message: string, extra: object = {}) =>
  JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message, ...extra });

describe('normalizeKubeError', () => {
  it('reads reason and message from an ApiException whose body is raw Status JSON', () => {
    const err = new ApiException(
      409,
      'Unknown API Status Code!',
      status(409, 'Conflict', 'the object has been modified'),
      {},
    );
    expect(normalizeKubeError(err)).toMatchObject({
      code: 409,
      reason: 'Conflict',
      message: 'the object has been modified',
    });
    expect(isConflict(err)).toBe(true);
    expect(isAlreadyExists(err)).toBe(false);
  });

  it('tells AlreadyExists apart from a stale-write Conflict', () => {
    const err = new ApiException(
      409,
      'x',
      status(409, 'AlreadyExists', 'leases "baton-slot-0" already exists'),
      {},
    );
    expect(isAlreadyExists(err)).toBe(true);
  });

  it('takes Retry-After from the header first, then from status details', () => {
    const withHeader = new ApiException(429, 'x', status(429, 'TooManyRequests', 'Cannot evict pod'), {
      'Retry-After': '7',
    });
    expect(normalizeKubeError(withHeader).retryAfterSeconds).toBe(7);
    const withDetails = new ApiException(
      429,
      'x',
      status(429, 'TooManyRequests', 'Cannot evict pod', { details: { retryAfterSeconds: 3 } }),
      {},
    );
    expect(normalizeKubeError(withDetails).retryAfterSeconds).toBe(3);
    expect(isTransient(withDetails)).toBe(true);
  });

  it('maps a watch error (statusCode) and a body that is not JSON', () => {
    const watchErr = Object.assign(new Error('Gone'), { statusCode: 410 });
    expect(normalizeKubeError(watchErr)).toMatchObject({ code: 410, reason: 'Expired', message: 'Gone' });
    const html = new ApiException(502, 'x', '<html>bad gateway</html>', {});
    expect(normalizeKubeError(html)).toMatchObject({
      code: 502,
      reason: 'HTTP502',
      message: '<html>bad gateway</html>',
    });
  });

  it('maps network failures to code 0 with the system error code as reason', () => {
    const err = new TypeError('fetch failed', {
      cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
    });
    const k = normalizeKubeError(err);
    expect(k).toMatchObject({ code: 0, reason: 'ECONNREFUSED' });
    expect(isTransient(err)).toBe(true);
    expect(describeKubeError(err)).toBe('ECONNREFUSED: fetch failed');
  });

  it('never throws on odd input', () => {
    expect(normalizeKubeError(undefined).code).toBe(0);
    expect(normalizeKubeError('boom').message).toBe('boom');
  });
});
