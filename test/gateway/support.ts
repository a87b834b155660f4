import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import net from 'node:net';
import { NODE } from '../support/process.ts';

export const JWT_SECRET = 'gateway-test-jwt-secret-0123456789abcdef';
export const INTERNAL_SECRET = 'gateway-test-internal-secret-0123456789abcdef';

export interface RunningGateway {
  child: ChildProcessWithoutNullStreams;
  origin: string;
  output(): string;
  exited: Promise<number | null>;
  /** SIGKILL unless it already exited; waits for the exit. */
  stop(): Promise<void>;
}

/** Starts `scalemart start --role gateway …` and resolves once it listens. */
export function startGatewayProcess(args: string[], port: number, env: Record<string, string> = {}): Promise<RunningGateway> {
  const child = spawn(NODE, ['src/app/cli.ts', 'start', '--role', 'gateway', '--port', String(port), ...args], {
    env: { ...process.env, JWT_SECRET, INTERNAL_SECRET, LOG_LEVEL: 'warn', ...env },
    stdio: 'pipe',
  });
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  return new Promise((resolve, reject) => {
    child.stderr.on('data', (chunk) => (out += String(chunk)));
    child.stdout.on('data', (chunk) => {
      out += String(chunk);
      if (out.includes('Scalemart gateway is running')) resolve({ child, origin: `http://127.0.0.1:${port}`, output: () => out, exited, stop });
    });
    void exited.then((code) => reject(new Error(`gateway exited ${code} before listening:\n${out}`)));
  });
}

export interface RawRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  /** Arrival order across every raw upstream of the process. */
  seq: number;
}

let arrivals = 0;

export interface RawUpstream {
  port: number;
  url: string;
  /** Every request received, in order (health checks on /readyz excluded). */
  requests: RawRequest[];
  /** Sockets that closed while a request on them was still unanswered. */
  abandoned: string[];
  close(): Promise<void>;
}

/**
 * An upstream written on raw `net`, so it can misbehave in ways an HTTP server library will not:
 * `reply` writes whatever bytes it likes to the socket, or nothing at all. `/readyz` answers 200.
 */
export function startRawUpstream(reply: (request: RawRequest, socket: net.Socket) => void): Promise<RawUpstream> {
  const requests: RawRequest[] = [];
  const abandoned: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffer = Buffer.alloc(0);
    let pending: RawRequest | undefined;
    socket.on('close', () => {
      if (pending) abandoned.push(pending.path);
    });
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        const [line, ...lines] = buffer.subarray(0, end).toString('latin1').split('\r\n');
        const headers: Record<string, string> = {};
        for (const l of lines) {
          const colon = l.indexOf(':');
          headers[l.slice(0, colon).trim().toLowerCase()] = l.slice(colon + 1).trim();
        }
        const length = Number(headers['content-length'] ?? 0);
        if (buffer.length < end + 4 + length) return;
        const [method, path] = line!.split(' ') as [string, string];
        const request = { method, path, headers, body: buffer.subarray(end + 4, end + 4 + length).toString(), seq: arrivals++ };
        buffer = buffer.subarray(end + 4 + length);
        if (path === '/readyz') {
          socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}');
          continue;
        }
        requests.push(request);
        pending = request;
        const write = socket.write.bind(socket);
        // Anything written for the request answers it.
        socket.write = ((...args: Parameters<typeof write>) => {
          pending = undefined;
          socket.write = write;
          return write(...args);
        }) as typeof socket.write;
        reply(request, socket);
      }
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      resolve({
        port,
        url: `http://127.0.0.1:${port}`,
        requests,
        abandoned,
        close: () => new Promise<void>((done) => {
          for (const s of sockets) s.destroy();
          server.close(() => done());
        }),
      });
    });
  });
}

/** A well-formed JSON answer on a kept-alive connection. */
export function json(socket: net.Socket, status: number, body: unknown, extra = ''): void {
  const text = JSON.stringify(body);
  socket.write(`HTTP/1.1 ${status} X\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\n${extra}\r\n${text}`);
}

/** The value of one series in Prometheus text, or undefined. */
export function metric(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(' ').at(-1)) : undefined;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
