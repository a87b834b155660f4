/**
 * Set on every answer of a process that is draining (SIGTERM received: `/readyz` answers 503, and
 * requests are still served until the drain ends). A gateway that sees it takes the instance out
 * of rotation at once, as Envoy does on `x-envoy-immediate-health-check-fail`, instead of waiting
 * for its health checks to fail `fall` times (6 s with the defaults, longer than the scaled
 * stage's 2 s drain). Internal: the gateway does not pass it on to clients.
 */
export const DRAINING_HEADER = 'x-scalemart-draining';
