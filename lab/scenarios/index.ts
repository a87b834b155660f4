import { cacheLayers } from './cache-layers.ts';
import { cachePropagation } from './cache-propagation.ts';
import { crashDefault } from './crash-default.ts';
import { dataTier } from './data-tier.ts';
import { eventPath } from './event-path.ts';
import { gateway } from './gateway.ts';
import { hotRead } from './hot-read.ts';
import { soakDefault } from './soak-default.ts';
import { orderAsync } from './order-async.ts';
import { services } from './services.ts';
import type { Scenario } from './types.ts';

export type { LabOptions, Scenario, ScenarioContext, ScenarioOutcome } from './types.ts';

/** Every scenario `scalemart lab run <name>` knows, by name. A new scenario is one more entry. */
export const SCENARIOS: ReadonlyMap<string, Scenario> = new Map([
  ['hot-read', hotRead],
  ['order-async', orderAsync],
  ['data-tier', dataTier],
  ['cache-propagation', cachePropagation],
  ['cache-layers', cacheLayers],
  ['event-path', eventPath],
  ['crash-default', crashDefault],
  ['soak-default', soakDefault],
  ['gateway', gateway],
  ['services', services],
]);
