export { defineContract, localClient, localOnly, method, type ContractTable, type LocalOnlyMethod, type MethodTable, type RemoteMethod } from './contract-table.ts';
export { asBase64Bytes, mapAsRecord, optionalArg } from './wire-codecs.ts';
export { internalPath, internalRoutes, type InternalRoutesOptions } from './internal-routes.ts';
export { controlOf, defaultRpcPolicy, httpClient, type HttpClientOptions, type RpcClientControl } from './http-client.ts';
export { INTERNAL_CALL_HEADER, signInternalCall, verifyInternalCall } from './internal-auth.ts';
export { INTERNAL_UNAUTHENTICATED, RpcError, type RpcErrorCode } from './errors.ts';
