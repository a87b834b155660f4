export { createGateway, type Gateway, type GatewayOptions } from './gateway-server.ts';
export { parseRouteTable, singlePoolTable, type HashKeySource, type PoolDefinition, type RouteTable } from './routes-file.ts';
export { BALANCER_NAMES, type BalancerName } from './balancers/index.ts';
export { GATEWAY_STATUS, type GatewayErrorCode } from './errors.ts';
