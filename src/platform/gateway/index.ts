export { createGateway, type Gateway, type GatewayOptions, type OwnAnswer, type OwnRoute, type OwnRouteContext } from './gateway-server.ts';
export type { Exchange, ForwardOptions, ForwardTarget } from './forward.ts';
export { getThroughPool, type UpstreamAnswer, type UpstreamGet } from './upstream-call.ts';
export { parseRouteTable, singlePoolTable, type HashKeySource, type PoolDefinition, type RouteTable } from './routes-file.ts';
export { BALANCER_NAMES, type BalancerName } from './balancers/index.ts';
export { GATEWAY_STATUS, type GatewayErrorCode } from './errors.ts';
