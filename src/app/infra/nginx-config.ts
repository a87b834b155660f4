import { join } from 'node:path';

/** The edge balancer's settings; `nginxConfig` turns them into one nginx.conf. */
export interface EdgeConfigOptions {
  /** The edge's own directory: pid file, logs, temp and cache paths all live under it, none under /var or /run. */
  dir: string;
  /** Loopback by default: the edge of a development machine. */
  host?: string | undefined;
  port: number;
  /** The gateways (or instances) it balances over, as http://host:port URLs; at least one. */
  upstreams: readonly string[];
  /** The CDN layer: a proxy_cache for public GETs, off by default. */
  cache?: boolean | undefined;
  /** Largest size of the cache on disk, nginx units; default 256m. */
  cacheMaxSize?: string | undefined;
  /** Idle upstream connections kept per worker (`keepalive`); default 32. */
  keepalive?: number | undefined;
  /** nginx worker processes; default 1 (a shared two-core box), `auto` for one per core. */
  workerProcesses?: number | 'auto' | undefined;
  /** true: nginx forks into the background and writes its pid file (for `infra up`); false: it stays our child. */
  daemon: boolean;
  /** Access log under `dir`; default on. The lab turns it off, as it would in production at that rate. */
  accessLog?: boolean | undefined;
  /** The user workers run as when nginx starts as root; see `edge.ts` for why. Ignored otherwise. */
  user?: string | undefined;
  /** nginx's balancing: round-robin (its default, and the edge's) or least connections. */
  balance?: 'round-robin' | 'least-conn' | undefined;
  /** Weight of each upstream, in the order of `upstreams`; default all 1. */
  weights?: readonly number[] | undefined;
  /**
   * false: one nginx process serves everything, no master (`master_process off`). Only for the lab,
   * where a single process is what its CPU accounting reads and what a SIGKILL fully removes.
   */
  masterProcess?: boolean | undefined;
}

/** The files an edge keeps under its directory. */
export function edgePaths(dir: string) {
  return {
    conf: join(dir, 'nginx.conf'),
    pid: join(dir, 'nginx.pid'),
    errorLog: join(dir, 'error.log'),
    accessLog: join(dir, 'access.log'),
    temp: join(dir, 'temp'),
    cache: join(dir, 'cache'),
  };
}

/** `http://127.0.0.1:3001` → `127.0.0.1:3001`; refuses what nginx's plain-HTTP upstream block cannot hold. */
export function upstreamServer(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`edge upstream "${url}" is not a URL (expected http://host:port)`);
  }
  if (parsed.protocol !== 'http:') throw new Error(`edge upstream "${url}": only http:// is supported`);
  if (parsed.pathname !== '/' || parsed.search || parsed.username) throw new Error(`edge upstream "${url}": give host and port only`);
  // URL keeps an IPv6 hostname in brackets, as nginx wants it.
  return `${parsed.hostname}:${parsed.port || '80'}`;
}

// nginx's own string syntax: a value in double quotes, backslash and quote escaped.
const quote = (value: string) => `"${value.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;

function cacheBlock(on: boolean): string {
  if (!on) return '';
  return `
      # CDN layer: nginx stores what the upstream's Cache-Control (or Expires) allows: max-age,
      # s-maxage; never private, no-store, no-cache, or a response setting a cookie. An expired
      # entry is revalidated with its ETag (If-None-Match) rather than fetched whole, and served
      # stale while one background request refreshes it (stale-while-revalidate, proxy_cache_lock).
      proxy_cache scalemart_edge;
      proxy_cache_methods GET HEAD;
      proxy_cache_key $scheme$host$request_uri;
      # A request carrying credentials is a private one: it neither reads nor fills the cache.
      proxy_cache_bypass $edge_private;
      proxy_no_cache $edge_private;
      proxy_cache_revalidate on;
      proxy_cache_background_update on;
      proxy_cache_use_stale updating error timeout http_500 http_502 http_503 http_504;
      proxy_cache_lock on;
      proxy_cache_lock_timeout 5s;
      add_header X-Cache-Status $upstream_cache_status always;`;
}

/**
 * One nginx.conf for the edge: a round-robin balancer over `upstreams` with keep-alive to them,
 * request ids and the client address passed on, and an optional cache. Pure: the same options
 * give the same text, so tests check it without running nginx.
 */
export function nginxConfig(options: EdgeConfigOptions): string {
  if (options.upstreams.length === 0) throw new Error('the edge needs at least one upstream');
  if (!Number.isInteger(options.port) || options.port < 1 || options.port > 65_535) throw new Error(`edge port ${options.port}: an integer from 1 to 65535`);
  const paths = edgePaths(options.dir);
  const host = options.host ?? '127.0.0.1';
  const weights = options.weights ?? options.upstreams.map(() => 1);
  if (weights.length !== options.upstreams.length || !weights.every((w) => Number.isInteger(w) && w >= 1)) {
    throw new Error('edge weights: one positive integer per upstream');
  }
  const servers = options.upstreams.map((url, i) => `${upstreamServer(url)}${weights[i] === 1 ? '' : ` weight=${weights[i]}`}`);
  const keepalive = options.keepalive ?? 32;
  const cache = options.cache ?? false;
  const temp = (name: string) => quote(join(paths.temp, name));
  const user = options.user ? `user ${options.user};\n` : '';
  return `# Generated by scalemart (src/app/infra/nginx-config.ts); rewritten on every start.
${user}daemon ${options.daemon ? 'on' : 'off'};
${options.masterProcess === false ? 'master_process off;\n' : ''}worker_processes ${options.workerProcesses ?? 1};
pid ${quote(paths.pid)};
error_log ${quote(paths.errorLog)} warn;
lock_file ${quote(join(options.dir, 'nginx.lock'))};

events {
  worker_connections 4096;
}

http {
  ${options.accessLog === false ? 'access_log off;' : `log_format edge '$remote_addr [$time_iso8601] "$request" $status $body_bytes_sent '
                  'rid=$edge_request_id up=$upstream_addr up_status=$upstream_status '
                  'rt=$request_time urt=$upstream_response_time cache=$upstream_cache_status';
  access_log ${quote(paths.accessLog)} edge;`}
  client_body_temp_path ${temp('client_body')};
  proxy_temp_path ${temp('proxy')};
  fastcgi_temp_path ${temp('fastcgi')};
  uwsgi_temp_path ${temp('uwsgi')};
  scgi_temp_path ${temp('scgi')};
  server_tokens off;
  keepalive_timeout 65s;
  keepalive_requests 10000;
${cache ? `  proxy_cache_path ${quote(paths.cache)} levels=1:2 keys_zone=scalemart_edge:10m max_size=${options.cacheMaxSize ?? '256m'} inactive=10m use_temp_path=off;\n` : ''}
  # The client's X-Request-Id when it sent one, else nginx's own: every hop logs the same id.
  map $http_x_request_id $edge_request_id {
    default $http_x_request_id;
    '' $request_id;
  }
  # Non-empty when the request carries any credential (bearer token, API key, cookie).
  map "$http_authorization$http_x_api_key$http_cookie" $edge_private {
    default 1;
    '' 0;
  }

  upstream scalemart_gateways {
${options.balance === 'least-conn' ? '    least_conn;\n' : ''}${servers.map((s) => `    server ${s} max_fails=1 fail_timeout=5s;`).join('\n')}
    keepalive ${keepalive};
    keepalive_requests 10000;
    # Shorter than Node's default server keep-alive (5 s), so nginx never reuses a connection the
    # upstream is closing at that moment (which would fail a request that was never sent).
    keepalive_timeout 4s;
  }

  server {
    listen ${host.includes(':') ? `[${host}]` : host}:${options.port};

    location = /_edge/livez {
      access_log off;
      default_type text/plain;
      return 200 "ok\\n";
    }

    location / {
      proxy_pass http://scalemart_gateways;
      # Upstream keep-alive: HTTP/1.1 and no "Connection: close" passed on.
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      # The edge is the first hop we run: the client address it saw replaces anything the client
      # wrote, so a client cannot choose the address the gateway limits by.
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Request-Id $edge_request_id;
      # A gateway that refuses connections or times out is skipped; a request is tried at most
      # twice, and never retried when it is not idempotent (nginx's default for POST, PATCH).
      proxy_next_upstream error timeout;
      proxy_next_upstream_tries 2;
      proxy_connect_timeout 2s;
      proxy_read_timeout 60s;${cacheBlock(cache)}
    }
  }
}
`;
}
