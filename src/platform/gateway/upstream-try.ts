import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';

/** Answers up to this size (by Content-Length) are read whole before they are sent on. */
export const BUFFER_BYTES = 1024 * 1024;

const NO_HEADERS: IncomingHttpHeaders = Object.freeze({});

/**
 * One try of a forwarded request, as an undici dispatch handler: the upstream's answer goes
 * straight from undici's parser to the client's response.
 *
 * Why not `Dispatcher.request()`: per call it builds an AsyncResource, a Readable for the body, an
 * abort listener on an AbortSignal (an EventTarget) and a promise, and the caller then drains the
 * Readable again to read a body that arrived as one chunk. On the lab's cached product GET that
 * was about a fifth of the gateway's CPU per request. A handler receives the parsed headers and
 * the body chunks as they come, and pauses undici's parser for backpressure.
 *
 * `done` settles once the try's outcome is known, never rejects:
 * - a small answer (Content-Length ≤ BUFFER_BYTES, or none expected: HEAD, 204, 304): when it is
 *   complete, with `body` (undefined when empty); a body that stops mid-way is a failure instead;
 * - a large or unsized answer: at its headers, with `streaming` set and the parser paused, until
 *   `streamTo(res)` or `discard()`;
 * - a failure before that: with `error` set.
 */
export class UpstreamTry implements Dispatcher.DispatchHandler {
  status = 0;
  headers: IncomingHttpHeaders = NO_HEADERS;
  body: Buffer | undefined;
  error: Error | undefined;
  streaming = false;
  readonly done: Promise<UpstreamTry>;

  private settle!: (outcome: UpstreamTry) => void;
  private settled = false;
  private controller: Dispatcher.DispatchController | undefined;
  private abortReason: Error | undefined;
  private chunks: Buffer[] | undefined;
  private size = 0;
  private res: ServerResponse | undefined;
  private ended = false;
  private readonly expectsBody: boolean;

  /** `expectsBody`: false for HEAD, whose answer has none whatever its Content-Length says. */
  constructor(expectsBody: boolean) {
    this.expectsBody = expectsBody;
    this.done = new Promise((resolve) => (this.settle = resolve));
  }

  /** Aborts the try (the client left); the outcome, if not known yet, is the error. */
  abort(reason: Error): void {
    this.abortReason = reason;
    this.controller?.abort(reason);
  }

  /** After `done` with `streaming`: sends the rest of the body to `res` (its head already written), with backpressure. */
  streamTo(res: ServerResponse): void {
    if (this.error) return void res.destroy();
    this.res = res;
    if (this.ended) return void res.end();
    this.controller?.resume();
  }

  /** After `done` with `streaming`: reads and drops the rest of the body, keeping the connection. */
  discard(): void {
    this.controller?.resume();
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.abortReason) controller.abort(this.abortReason);
  }

  onResponseStart(controller: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders): void {
    if (status < 200) return; // 1xx informational: the final answer follows
    this.status = status;
    this.headers = headers;
    if (!this.expectsBody || status === 204 || status === 304) return;
    const length = headers['content-length'];
    if (length !== undefined && Number(length) <= BUFFER_BYTES) {
      this.chunks = [];
      return;
    }
    this.streaming = true;
    controller.pause();
    this.finish();
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const res = this.res;
    if (res) {
      if (!res.write(chunk)) {
        controller.pause();
        res.once('drain', () => controller.resume());
      }
    } else if (this.chunks) {
      this.chunks.push(chunk);
      this.size += chunk.length;
    }
    // Otherwise discarded: a streamed answer being dropped.
  }

  onResponseEnd(): void {
    this.ended = true;
    const chunks = this.chunks;
    if (chunks && chunks.length > 0) this.body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, this.size);
    this.chunks = undefined;
    if (this.res) this.res.end();
    else this.finish();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.error = error;
    this.chunks = undefined;
    // Headers already left: the client's response cannot be taken back, so it is cut off.
    if (this.res) this.res.destroy();
    else this.finish();
  }

  private finish(): void {
    if (this.settled) return;
    this.settled = true;
    this.settle(this);
  }
}
