/**
 * The deployment settings of infra/config.ts: the agent user, the Worker Controller's build id and
 * deployment name, and ECS's agent endpoint — valid values, precedence, and errors that name the
 * variable and the fix.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../infra/config.js';

const problemsOf = (env: Record<string, string>): string => {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  return '';
};

describe('deployment settings', () => {
  it('CLAUDOMATOR_AGENT_UID: the agent user, its group (default: the same) and HOME (default: under the data dir)', () => {
    expect(loadConfig({}).agentUser).toBeUndefined();
    expect(loadConfig({ CLAUDOMATOR_AGENT_UID: '10001', CLAUDOMATOR_DATA_DIR: '/data' }).agentUser).toEqual({
      uid: 10001,
      gid: 10001,
      home: path.resolve('/data/agent-home'),
    });
    expect(
      loadConfig({ CLAUDOMATOR_AGENT_UID: '65534', CLAUDOMATOR_AGENT_GID: '65533', CLAUDOMATOR_AGENT_HOME: '/h' })
        .agentUser,
    ).toEqual({ uid: 65534, gid: 65533, home: path.resolve('/h') });
  });

  it('rejects root, non-numbers, and a group or HOME without the uid, naming the variable', () => {
    expect(problemsOf({ CLAUDOMATOR_AGENT_UID: '0' })).toMatch(/CLAUDOMATOR_AGENT_UID: expected .*0 is root.*got "0"/);
    expect(problemsOf({ CLAUDOMATOR_AGENT_UID: 'nobody' })).toMatch(/CLAUDOMATOR_AGENT_UID: expected a numeric id/);
    expect(problemsOf({ CLAUDOMATOR_AGENT_UID: '10001', CLAUDOMATOR_AGENT_GID: '-1' })).toMatch(
      /CLAUDOMATOR_AGENT_GID: expected a numeric id/,
    );
    expect(problemsOf({ CLAUDOMATOR_AGENT_HOME: '/h' })).toMatch(/CLAUDOMATOR_AGENT_UID to be set too/);
  });

  it('takes the Worker Controller’s build id and deployment name when CLAUDOMATOR_* are unset', () => {
    const managed = loadConfig({
      TEMPORAL_WORKER_BUILD_ID: '5f7c9d',
      TEMPORAL_DEPLOYMENT_NAME: 'claudomator/orchestration',
    });
    expect(managed.buildId).toBe('5f7c9d');
    expect(managed.deploymentName).toBe('claudomator/orchestration');
    const own = loadConfig({
      TEMPORAL_WORKER_BUILD_ID: '5f7c9d',
      TEMPORAL_DEPLOYMENT_NAME: 'claudomator/orchestration',
      CLAUDOMATOR_BUILD_ID: '0.2.0',
      CLAUDOMATOR_DEPLOYMENT_NAME: 'claudomator',
    });
    expect(own.buildId).toBe('0.2.0');
    expect(own.deploymentName).toBe('claudomator');
    expect(problemsOf({ TEMPORAL_WORKER_BUILD_ID: 'a b' })).toMatch(/TEMPORAL_WORKER_BUILD_ID: expected a build id/);
  });

  it('ECS_AGENT_URI: an http(s) URL, without a trailing slash', () => {
    expect(loadConfig({ ECS_AGENT_URI: 'http://169.254.170.2/api/abc/' }).ecsAgentUri).toBe(
      'http://169.254.170.2/api/abc',
    );
    expect(problemsOf({ ECS_AGENT_URI: 'ftp://x' })).toMatch(/ECS_AGENT_URI: expected an http\(s\) URL/);
  });
});
