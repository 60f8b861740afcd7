/**
 * createActivities(deps) builds the one activity object a worker registers. Activities get every
 * dependency (store, configuration) from here: no module-level singletons, so tests can build them
 * with their own database and override single activities.
 */
import type { Config } from '../infra/config.js';
import type { Store } from '../store/index.js';
import { createHealthActivities } from './health.js';
import { createAgentActivities } from './run-agent.js';

export interface ActivityDeps {
  store: Store;
  config: Readonly<Config>;
}

// eslint-disable-next-line @typescript-eslint/explicit-module-boundary-types -- the type is inferred on purpose: workflows proxy it
export function createActivities(deps: ActivityDeps) {
  return {
    ...createHealthActivities(deps),
    ...createAgentActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
