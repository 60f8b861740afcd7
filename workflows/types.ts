/**
 * The types shared by client, workflows and activities, one import for all of them. They are kept
 * by subject in workflows/types/: the domain records (domain.ts), one agent run (agent-run.ts), the
 * agent pool (pool.ts), the task and story workflows' own inputs and views (workflows.ts), the
 * signals they refused (signals.ts), and notifications (notify.ts).
 */
export * from './types/domain.js';
export * from './types/agent-run.js';
export * from './types/pool.js';
export * from './types/workflows.js';
export * from './types/signals.js';
export * from './types/notify.js';
