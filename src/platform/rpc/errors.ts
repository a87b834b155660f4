import { CodedError } from '../errors/coded-error.ts';

/** Stable codes of contract clients; callers branch on `code`, never on the message. */
export type RpcErrorCode =
  /** The method is marked local-only in its table (a callback, a lab switch) and was called on a remote client. */
  | 'RPC_LOCAL_ONLY'
  /** The callee refused the call's signature: the two sides do not share INTERNAL_SECRET, or their clocks disagree. */
  | 'RPC_UNAUTHENTICATED';

export class RpcError extends CodedError<RpcErrorCode> {
  override name = 'RpcError';
}

/** The code of a 401 from an internal route: the call carried no valid service signature. */
export const INTERNAL_UNAUTHENTICATED = 'INTERNAL_UNAUTHENTICATED';
