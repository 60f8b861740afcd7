import { describe, expect, it } from 'vitest';
import { deniedSlotError, isAgentType, toldByHuman } from '../../workflows/task-state.js';

describe('deniedSlotError', () => {
  it('names the pool, the agent and the pool’s reason, and says what to configure', () => {
    const error = deniedSlotError('gemini', 'agent-pool', 'unknown agent "gemini": this pool runs claude (or "any")');
    expect(error).toBe(
      'the agent pool (agent-pool) refused a gemini slot: unknown agent "gemini": this pool runs claude (or "any"). ' +
        'Add gemini to CLAUDOMATOR_AGENTS of the workers that start the pool (a running pool keeps the agents it ' +
        'started with) or give the task an agent the pool runs, then `claudomator task retry` it.',
    );
  });

  it('gives no configuration hint for "any", which no agent list can fix', () => {
    const error = deniedSlotError('any', 'agent-pool', 'request r1 was already released');
    expect(error).toBe('the agent pool (agent-pool) refused a slot for any agent: request r1 was already released');
    expect(error).not.toContain('CLAUDOMATOR_AGENTS');
  });
});

describe('isAgentType', () => {
  it('accepts the agents claudomator runs and nothing else (an execution row stores the agent as text)', () => {
    expect(['claude', 'gemini', 'codex', 'command'].every(isAgentType)).toBe(true);
    expect(['any', 'Claude', '', undefined].some(isAgentType)).toBe(false);
  });
});

describe('toldByHuman', () => {
  it('keeps the instructions and adds what the human said', () => {
    expect(toldByHuman('Add a login page', 'use postgres')).toBe(
      'Add a login page\n\nEarlier in this task a human told you: use postgres',
    );
  });
});
