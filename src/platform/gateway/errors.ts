import { CodedError } from '../errors/coded-error.ts';
import { problem, type Problem } from '../http/problem.ts';

/** Stable codes of the gateway's own answers (API.md); callers branch on `code`, never on the message. */
export type GatewayErrorCode =
  /** Every try failed: refused or reset connections, malformed answers, 5xx with no retry left. */
  | 'UPSTREAM_FAILED'
  /** The pool has no instance that passes its health checks and is not ejected. */
  | 'NO_HEALTHY_UPSTREAM'
  /** No answer (headers) within the per-try or overall deadline. */
  | 'UPSTREAM_TIMEOUT';

export const GATEWAY_STATUS: Record<GatewayErrorCode, number> = {
  UPSTREAM_FAILED: 502,
  NO_HEALTHY_UPSTREAM: 503,
  UPSTREAM_TIMEOUT: 504,
};

const DETAIL: Record<GatewayErrorCode, string> = {
  UPSTREAM_FAILED: 'The service behind the gateway did not give a valid answer.',
  NO_HEALTHY_UPSTREAM: 'No instance of the service behind the gateway is available; try again shortly.',
  UPSTREAM_TIMEOUT: 'The service behind the gateway did not answer in time.',
};

/** The code for a request none of whose tries got an answer: no instance to try, a timeout, or any other failure. */
export function failureCode(last: 'connect' | 'reset' | 'timeout' | 'status' | undefined): GatewayErrorCode {
  return last === undefined ? 'NO_HEALTHY_UPSTREAM' : last === 'timeout' ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_FAILED';
}

export class GatewayError extends CodedError<GatewayErrorCode> {
  override name = 'GatewayError';
}

/** The problem+json body of a gateway failure; never names an instance or carries the cause. */
export function gatewayProblem(code: GatewayErrorCode): Problem {
  return problem(GATEWAY_STATUS[code], code, DETAIL[code]);
}
