import { describe, expect, it } from 'vitest';
import { describeConfig, redactUrl } from '../../client/admin.js';
import { loadConfig } from '../../infra/config.js';
import { workerPlan } from '../../worker/factory.js';

describe('describeConfig (what doctor prints)', () => {
  it('shows every setting but no secret', () => {
    const config = loadConfig({
      TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233',
      TEMPORAL_NAMESPACE: 'ns.acct',
      TEMPORAL_API_KEY: 'sk-very-secret',
      DATABASE_URL: 'postgres://app:hunter2@db.internal:5432/claudomator',
      CLAUDOMATOR_HOST_ID: 'host-1',
    });
    const shown = describeConfig(config);
    expect(JSON.stringify(shown)).not.toMatch(/sk-very-secret|hunter2/);
    expect(shown).toMatchObject({
      temporalAddress: 'ns.acct.tmprl.cloud:7233',
      temporalApiKey: 'set (hidden)',
      temporalTls: true,
      databaseUrl: 'postgres://app:***@db.internal:5432/claudomator',
      hostTaskQueue: 'claudomator-agents@host-1',
    });
  });

  it('redacts only the password of a URL', () => {
    expect(redactUrl('postgres://u@h/db')).toBe('postgres://u@h/db');
    expect(redactUrl('not a url')).toBe('(unparseable URL)');
  });
});

describe('workerPlan', () => {
  const config = { taskQueue: 'orch', agentTaskQueue: 'agents', hostId: 'h1' };

  it('gives each role its queues: orchestration one, agents the shared and the host queue, all three', () => {
    expect(workerPlan('orchestration', config)).toEqual([{ kind: 'orchestration', taskQueue: 'orch' }]);
    expect(workerPlan('agents', config)).toEqual([
      { kind: 'agents', taskQueue: 'agents' },
      { kind: 'host', taskQueue: 'agents@h1' },
    ]);
    expect(workerPlan('all', config).map((w) => w.taskQueue)).toEqual(['orch', 'agents', 'agents@h1']);
  });
});
