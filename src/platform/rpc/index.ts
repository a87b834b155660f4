/**
 * Contract clients. A module describes its contract once, as a table beside its `contract.ts`
 * (`inventory/contract.rpc.ts`): one line per method, with TypeBox schemas for the arguments and
 * the answer, and whether a repeat is harmless. From the table come
 * - `localClient(table, api)`: the callee in this process, a direct call;
 * - `internalRoutes(table, api, { secret })`: the callee's `POST /internal/v1/<module>/<method>`;
 * - `httpClient(table, { urls, secret, caller })`: the callee elsewhere, typed as its contract,
 *   balanced over its instances under a dependency policy (timeout, retries for idempotent
 *   methods only, breaker, bulkhead).
 */
export { defineContract, localClient, localOnly, method, type ContractTable, type LocalOnlyMethod, type MethodTable, type RemoteMethod } from './contract-table.ts';
export { asBase64Bytes, mapAsRecord, optionalArg } from './wire-codecs.ts';
export { internalPath, internalRoutes, type InternalRoutesOptions } from './internal-routes.ts';
export { controlOf, defaultRpcPolicy, httpClient, type HttpClientOptions, type RpcClientControl } from './http-client.ts';
export { INTERNAL_CALL_HEADER, signInternalCall, verifyInternalCall } from './internal-auth.ts';
export { INTERNAL_UNAUTHENTICATED, RpcError, type RpcErrorCode } from './errors.ts';
