import { describe, expect, it } from 'vitest';
import { edgePaths, nginxConfig, upstreamServer, type EdgeConfigOptions } from './nginx-config.ts';

const base: EdgeConfigOptions = { dir: '/srv/infra/edge', port: 18080, upstreams: ['http://127.0.0.1:3001', 'http://127.0.0.1:3002'], daemon: true };
// Directives only, one per line: comments stripped, so a comment naming a directive cannot satisfy a test.
const directives = (conf: string) => conf.split('\n').map((l) => l.replace(/#.*/, '').trim()).filter(Boolean);

describe('nginxConfig', () => {
  it('balances over every upstream with keep-alive to them', () => {
    const lines = directives(nginxConfig(base));
    expect(lines).toContain('server 127.0.0.1:3001 max_fails=1 fail_timeout=5s;');
    expect(lines).toContain('server 127.0.0.1:3002 max_fails=1 fail_timeout=5s;');
    expect(lines).toContain('keepalive 32;');
    expect(lines).toContain('proxy_http_version 1.1;');
    expect(lines).toContain('proxy_set_header Connection "";');
    expect(lines).toContain('listen 127.0.0.1:18080;');
  });

  it('keeps every file under its directory: pid, logs, temp paths', () => {
    const conf = nginxConfig({ ...base, cache: true });
    const paths = [...conf.matchAll(/"(\/[^"]*)"/g)].map((m) => m[1]!);
    expect(paths.length).toBeGreaterThanOrEqual(9);
    expect(paths.every((p) => p.startsWith('/srv/infra/edge/'))).toBe(true);
    expect(conf).toContain(`pid "${edgePaths(base.dir).pid}";`);
    for (const temp of ['client_body_temp_path', 'proxy_temp_path', 'fastcgi_temp_path', 'uwsgi_temp_path', 'scgi_temp_path']) {
      expect(conf).toMatch(new RegExp(`${temp} "/srv/infra/edge/temp/`));
    }
  });

  it('passes the client address and a request id (the client’s, else its own)', () => {
    const lines = directives(nginxConfig(base));
    expect(lines).toContain('proxy_set_header X-Forwarded-For $remote_addr;');
    expect(lines).toContain('proxy_set_header X-Request-Id $edge_request_id;');
    expect(lines).toContain('default $http_x_request_id;');
    expect(lines).toContain("'' $request_id;");
  });

  it('has no cache unless asked', () => {
    const conf = nginxConfig(base);
    expect(conf).not.toMatch(/proxy_cache\b/);
    expect(conf).not.toContain('X-Cache-Status');
  });

  it('with the cache on: revalidates, serves stale while updating, skips credentialed requests, reports status', () => {
    const lines = directives(nginxConfig({ ...base, cache: true }));
    for (const line of [
      'proxy_cache scalemart_edge;',
      'proxy_cache_methods GET HEAD;',
      'proxy_cache_revalidate on;',
      'proxy_cache_background_update on;',
      'proxy_cache_bypass $edge_private;',
      'proxy_no_cache $edge_private;',
      'add_header X-Cache-Status $upstream_cache_status always;',
    ]) expect(lines).toContain(line);
    expect(lines.find((l) => l.startsWith('proxy_cache_use_stale'))).toMatch(/\bupdating\b/);
    expect(lines).toContain('map "$http_authorization$http_x_api_key$http_cookie" $edge_private {');
    // Nothing forces caching: only what the upstream's Cache-Control allows is stored.
    expect(lines.some((l) => /^proxy_(cache_valid|ignore_headers)/.test(l))).toBe(false);
  });

  it('switches daemon mode, the worker user, worker count and the access log', () => {
    const lines = directives(nginxConfig({ ...base, daemon: false, user: 'root', workerProcesses: 'auto', accessLog: false }));
    expect(lines).toEqual(expect.arrayContaining(['daemon off;', 'user root;', 'worker_processes auto;', 'access_log off;']));
    expect(directives(nginxConfig(base))).not.toContain(expect.stringMatching(/^user /));
  });

  it('balances by least connections and by weight when asked (the lab’s balancing references)', () => {
    const lines = directives(nginxConfig({ ...base, upstreams: [...base.upstreams, 'http://127.0.0.1:3003'], balance: 'least-conn', weights: [3, 3, 1] }));
    expect(lines).toContain('least_conn;');
    expect(lines).toEqual(expect.arrayContaining([
      'server 127.0.0.1:3001 weight=3 max_fails=1 fail_timeout=5s;',
      'server 127.0.0.1:3003 max_fails=1 fail_timeout=5s;',
    ]));
    expect(directives(nginxConfig(base))).not.toContain('least_conn;');
    expect(() => nginxConfig({ ...base, weights: [1] })).toThrow(/weights/);
    expect(() => nginxConfig({ ...base, weights: [1, 0] })).toThrow(/weights/);
  });

  it('runs as one process without a master only when asked', () => {
    expect(directives(nginxConfig({ ...base, daemon: false, masterProcess: false }))).toContain('master_process off;');
    expect(nginxConfig(base)).not.toContain('master_process');
  });

  it('is pure: the same options give the same text', () => {
    expect(nginxConfig({ ...base, cache: true })).toBe(nginxConfig({ ...base, cache: true }));
  });

  it('refuses an empty upstream list and a bad port', () => {
    expect(() => nginxConfig({ ...base, upstreams: [] })).toThrow(/at least one upstream/);
    expect(() => nginxConfig({ ...base, port: 0 })).toThrow(/port/);
  });
});

describe('upstreamServer', () => {
  it('takes host and port from an http URL, port 80 by default, IPv6 in brackets', () => {
    expect(upstreamServer('http://127.0.0.1:3001')).toBe('127.0.0.1:3001');
    expect(upstreamServer('http://localhost')).toBe('localhost:80');
    expect(upstreamServer('http://[::1]:3001')).toBe('[::1]:3001');
  });

  it('refuses what an http upstream block cannot hold', () => {
    expect(() => upstreamServer('https://127.0.0.1:3001')).toThrow(/only http/);
    expect(() => upstreamServer('http://127.0.0.1:3001/api')).toThrow(/host and port only/);
    expect(() => upstreamServer('127.0.0.1:3001')).toThrow();
  });
});
