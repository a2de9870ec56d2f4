import { describe, expect, it } from 'vitest';
import { REDACTED, redact, redactCredentials } from './errors.ts';

describe('redact', () => {
  it('keeps only the scheme of a value that is secret as a whole', () => {
    expect(redact('https://hooks.slack.com/services/T0/B0/secret')).toBe('https://…(redacted)');
    expect(redact('slack://a/b')).toBe('slack://…(redacted)');
    expect(redact('')).toBe('');
  });
});

describe('redactCredentials', () => {
  it.each([
    ['a URL with user and password', 'http://admin:hunter2@prom:9090/x', 'http://(redacted)@prom:9090/x'],
    ['a URL with a token as user', 'https://ghp_hunter2@example.com', 'https://(redacted)@example.com'],
    ['a password with "/", "?", "#" and "@"', 'http://u:a/b?c#d@e@prom:9090', 'http://(redacted)@prom:9090'],
    ['user:password@host without a scheme', 'admin:hunter2@prom:9090', '(redacted)@prom:9090'],
    [
      'inside a message',
      '--prometheus-url: invalid value "admin:hunter2@prom:9090": expected',
      '--prometheus-url: invalid value "(redacted)@prom:9090": expected',
    ],
    [
      'secret query parameters',
      'https://p/api?query=up&token=hunter2&access_token=hunter2;api-key=hunter2&X-Amz-Signature=hunter2&sig=hunter2&code=hunter2&password=hunter2',
      'https://p/api?query=up&token=(redacted)&access_token=(redacted);api-key=(redacted)&X-Amz-Signature=(redacted)&sig=(redacted)&code=(redacted)&password=(redacted)',
    ],
    ['a bearer token', 'Authorization: Bearer eyJhunter2.x-y', 'Authorization: Bearer (redacted)'],
    ['basic credentials', 'Basic YWRtaW46aHVudGVyMg==', 'Basic (redacted)'],
  ])('hides %s', (_what, text, shown) => {
    expect(redactCredentials(text)).toBe(shown);
    expect(redactCredentials(text)).not.toContain('hunter2');
    // Twice is once: messages built from redacted values may pass through again.
    expect(redactCredentials(redactCredentials(text))).toBe(shown);
  });

  it.each([
    'http://prometheus.monitoring:9090/prometheus/?query=up',
    'kubeconfig /home/me/.kube/config: current-context: is not set',
    'alertname=~"Kube.*"',
    'app in (web,api),tier!=cache',
    'mo-fr 22:00-04:00',
    'Basic authentication and Bearer tokens',
    '--drain-timeout: invalid value "10x": expected a duration of at most 24h, such as 30s, 5m or 1h30m',
  ])('leaves text without credentials alone: %j', (text) => {
    expect(redactCredentials(text)).toBe(text);
  });

  it('marks what it hid', () => {
    expect(REDACTED).toBe('(redacted)');
  });
});
