// Workflow bundle entry: re-exports the workflow functions, nothing else.
export { healthCheckWorkflow } from './health.js';
export { agentPoolWorkflow } from './agent-pool.js';
export { storyWorkflow } from './story.js';
export { taskWorkflow } from './task.js';
export { notificationWorkflow } from './notify.js';
