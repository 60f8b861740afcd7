/**
 * The activity objects workers register, built from their dependencies (store, configuration): no
 * module-level singletons, so tests can build them with their own database and override single
 * activities.
 *
 * Two groups, because the two worker roles poll different task queues:
 * - orchestration (the orchestration queue): store writes, git, bookkeeping — anywhere;
 * - agent host (the agent queue and this host's own queue): agent runs, on hosts with the agent CLIs.
 * `createActivities` is both: the local all-in-one worker, tests, and the `Activities` type that
 * workflows proxy. Add an activity group by spreading its factory into one of the two lists.
 */
import type { Config } from '../infra/config.js';
import type { Store } from '../store/index.js';
import { createClassifyActivities } from './classify.js';
import { createHealthActivities } from './health.js';
import { createHostActivities } from './host.js';
import { createNotifyActivities } from './notify.js';
import { createPoolActivities } from './pool.js';
import { createRecordActivities } from './record.js';
import { createPublishActivities, createRepositoryActivities } from './repository.js';
import { createAgentActivities } from './run-agent.js';
import { createStoryActivities } from './story.js';

export interface ActivityDeps {
  store: Store;
  config: Readonly<Config>;
}

// eslint-disable-next-line @typescript-eslint/explicit-module-boundary-types -- the type is inferred on purpose: workflows proxy it
export function createOrchestrationActivities(deps: ActivityDeps) {
  return {
    ...createHealthActivities(deps),
    ...createRecordActivities(deps),
    ...createClassifyActivities(deps),
    ...createPoolActivities(deps),
    ...createRepositoryActivities(),
    ...createStoryActivities(deps),
    ...createNotifyActivities(deps),
  };
}

// eslint-disable-next-line @typescript-eslint/explicit-module-boundary-types -- the type is inferred on purpose: workflows proxy it
export function createAgentHostActivities(deps: ActivityDeps) {
  return {
    ...createHostActivities(deps),
    ...createAgentActivities(deps),
    ...createPublishActivities(),
  };
}

// eslint-disable-next-line @typescript-eslint/explicit-module-boundary-types -- the type is inferred on purpose: workflows proxy it
export function createActivities(deps: ActivityDeps) {
  return {
    ...createOrchestrationActivities(deps),
    ...createAgentHostActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
