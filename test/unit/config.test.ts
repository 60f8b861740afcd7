import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../infra/config.js';

describe('loadConfig', () => {
  it('has defaults for everything', () => {
    const config = loadConfig({ HOME: '/home/u' });
    expect(config).toMatchObject({
      databaseUrl: undefined,
      taskQueue: 'claudomator',
      agentTaskQueue: 'claudomator-agents',
      poolWorkflowId: 'agent-pool',
      agents: ['claude', 'gemini', 'codex', 'command'],
      agentSlots: { claude: 1, gemini: 1, codex: 1, command: 1 },
      agentBins: { claude: 'claude', gemini: 'gemini', codex: 'codex' },
      defaultTimeoutMs: 7_200_000,
      workerRole: 'all',
      logLevel: 'INFO',
      temporal: { namespace: 'default' },
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reads Temporal connection settings through envconfig', () => {
    const config = loadConfig({
      TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233',
      TEMPORAL_NAMESPACE: 'ns.acct',
      TEMPORAL_API_KEY: 'k',
    });
    expect(config.temporal).toMatchObject({ address: 'ns.acct.tmprl.cloud:7233', namespace: 'ns.acct' });
    expect(config.temporal.connection).toMatchObject({ apiKey: 'k' });
    expect(config.temporal.connection.tls).toBeTruthy();
  });

  it('parses slots, agents, binaries and durations', () => {
    const config = loadConfig({
      CLAUDOMATOR_AGENT_SLOTS: 'claude=3, gemini=0',
      CLAUDOMATOR_AGENTS: 'claude,command',
      CLAUDOMATOR_CLAUDE_BIN: '/opt/claude',
      CLAUDOMATOR_DEFAULT_TIMEOUT: '45m',
      CLAUDOMATOR_LOG_LEVEL: 'debug',
    });
    expect(config.agentSlots).toMatchObject({ claude: 3, gemini: 0, codex: 1 });
    expect(config.agents).toEqual(['claude', 'command']);
    expect(config.agentBins.claude).toBe('/opt/claude');
    expect(config.defaultTimeoutMs).toBe(2_700_000);
    expect(config.logLevel).toBe('DEBUG');
  });

  it('reports every bad variable at once, naming it and what it expects', () => {
    let error: unknown;
    try {
      loadConfig({
        CLAUDOMATOR_AGENT_SLOTS: 'claude=x',
        CLAUDOMATOR_AGENTS: 'claude,gpt',
        DATABASE_URL: 'mysql://x',
        CLAUDOMATOR_DEFAULT_TIMEOUT: 'forever',
        CLAUDOMATOR_WORKER_ROLE: 'boss',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain('CLAUDOMATOR_AGENT_SLOTS: expected agent=count pairs such as "claude=2,gemini=1"');
    expect(message).toContain('got "claude=x"');
    expect(message).toContain(
      'CLAUDOMATOR_AGENTS: expected a comma-separated list of claude, gemini, codex, command, got "claude,gpt"',
    );
    expect(message).toContain('DATABASE_URL: expected a postgres:// or postgresql:// URL');
    expect(message).toContain('CLAUDOMATOR_DEFAULT_TIMEOUT');
    expect(message).toContain('CLAUDOMATOR_WORKER_ROLE: expected one of all, orchestration, agents');
    expect((error as ConfigError).problems).toHaveLength(5);
  });
});
