/**
 * The agent host's own health check: which agent CLIs this host can run and whether its data
 * directory (sandboxes, logs, session files) is writable. It is also what makes an agent-host
 * worker poll its queues before any agent-run activity is registered beside it.
 */
import { access, constants, mkdir } from 'node:fs/promises';
import os from 'node:os';
import { activityInfo } from '@temporalio/activity';
import { whichSync } from '../infra/binaries.js';
import type { Config } from '../infra/config.js';
import type { AGENT_TYPES } from '../workflows/types.js';

export interface AgentHostReport {
  hostId: string;
  hostname: string;
  pid: number;
  taskQueue: string;
  dataDir: string;
  /** 'ok', or why the data directory cannot be written. */
  dataDirStatus: string;
  /** Each agent CLI the pool offers: its resolved path, or null when this host lacks it. */
  agentBins: Partial<Record<(typeof AGENT_TYPES)[number], string | null>>;
}

// eslint-disable-next-line @typescript-eslint/explicit-module-boundary-types -- inferred on purpose: workflows proxy this type
export function createHostActivities(deps: { config: Readonly<Config> }) {
  return {
    /** Report this agent host's identity, agent CLIs and data directory. */
    async checkAgentHost(): Promise<AgentHostReport> {
      const { config } = deps;
      let dataDirStatus = 'ok';
      try {
        await mkdir(config.dataDir, { recursive: true });
        await access(config.dataDir, constants.W_OK);
      } catch (err) {
        dataDirStatus = err instanceof Error ? err.message : String(err);
      }
      const agentBins: AgentHostReport['agentBins'] = {};
      for (const agent of config.agents) {
        if (agent === 'command') continue;
        agentBins[agent] = whichSync(config.agentBins[agent]) ?? null;
      }
      return {
        hostId: config.hostId,
        hostname: os.hostname(),
        pid: process.pid,
        taskQueue: activityInfo().taskQueue,
        dataDir: config.dataDir,
        dataDirStatus,
        agentBins,
      };
    },
  };
}
