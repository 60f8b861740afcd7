/** `claudomator agents …`: the agent pool's view, and the operator's controls. */
import type { Command } from 'commander';
import type { AgentStatus } from '../index.js';
import { info, out, parseCount, parseDuration, printJson, printTable, withClient, type JsonOption } from './common.js';

export function registerAgentCommands(program: Command): void {
  const agents = program
    .command('agents')
    .description(
      'Show every agent: active, waiting, rate limited until, drained, failures, limit (from Postgres when no orchestration worker answers).',
    )
    .option('--json', 'print JSON (each status from Postgres carries "source": "record")')
    .action(async (opts: JsonOption) => {
      const overview = await withClient((client) => client.agentOverview());
      if (opts.json) {
        if (overview.note) info(overview.note);
        return printJson(
          overview.source === 'pool' ? overview.statuses : overview.statuses.map((s) => ({ ...s, source: 'record' })),
        );
      }
      printAgents(overview.statuses);
      if (overview.note) out(`\n${overview.note}`);
    });

  agents
    .command('ack <agent>')
    .description('Acknowledge a drained agent: its failure count resets and it takes tasks again.')
    .option('--by <name>', 'who acknowledges (recorded)')
    .option('--json', 'print JSON')
    .action(async (agent: string, opts: JsonOption & { by?: string }) => {
      const status = await withClient((client) => client.acknowledgeAgent(agent, opts.by));
      if (opts.json) return printJson(status);
      out(`${agent} acknowledged: ${describe(status)}`);
    });

  agents
    .command('limit <agent> <slots>')
    .description('Change how many tasks may hold the agent at once (0 stops new grants).')
    .option('--json', 'print JSON')
    .action(async (agent: string, slots: string, opts: JsonOption) => {
      const status = await withClient((client) => client.setAgentLimit(agent, parseCount(slots)));
      if (opts.json) return printJson(status);
      out(`${agent}: ${describe(status)}`);
    });

  agents
    .command('pause <agent>')
    .description('Stop grants to the agent until resumed (or for --for).')
    .option('--for <duration>', 'pause for this long, e.g. 30m', parseDuration)
    .option('--reason <text>', 'why (recorded)')
    .option('--json', 'print JSON')
    .action(async (agent: string, opts: JsonOption & { for?: number; reason?: string }) => {
      const status = await withClient((client) =>
        client.pauseAgent(agent, {
          ...(opts.for ? { until: new Date(Date.now() + opts.for).toISOString() } : {}),
          ...(opts.reason ? { reason: opts.reason } : {}),
        }),
      );
      if (opts.json) return printJson(status);
      out(`${agent} paused: ${describe(status)}`);
    });

  agents
    .command('resume <agent>')
    .description('End a pause (an operator pause, a rate limit or a quota pause) of the agent.')
    .option('--json', 'print JSON')
    .action(async (agent: string, opts: JsonOption) => {
      const status = await withClient((client) => client.resumeAgent(agent));
      if (opts.json) return printJson(status);
      out(`${agent} resumed: ${describe(status)}`);
    });
}

function printAgents(statuses: AgentStatus[]): void {
  printTable(statuses, [
    ['AGENT', (s) => s.agent],
    ['ACTIVE', (s) => String(s.activeTasks)],
    ['WAITING', (s) => String(s.waiting)],
    [
      'RATE LIMITED UNTIL',
      (s) => (s.rateLimited ? `${s.rateLimitedUntil ?? '?'} (${s.rateLimitReason ?? 'transient'})` : '-'),
    ],
    ['PAUSED', (s) => (s.paused ? (s.pausedUntil ?? 'until resumed') : '-')],
    ['DRAINED', (s) => (s.drained ? 'yes' : 'no')],
    ['FAILURES', (s) => String(s.consecutiveFailures)],
    ['LIMIT', (s) => String(s.limit)],
  ]);
  for (const s of statuses.filter((a) => a.drained)) {
    out(
      `\n${s.agent} is drained after ${s.consecutiveFailures} failures in a row (last: ${s.drainReason ?? 'unknown'}).`,
    );
    out(`  next: fix the cause, then claudomator agents ack ${s.agent}`);
  }
}

function describe(s: AgentStatus): string {
  return `${s.activeTasks}/${s.limit} active, ${s.waiting} waiting${s.drained ? ', drained' : ''}${s.paused ? ', paused' : ''}${
    s.rateLimited ? `, rate limited until ${s.rateLimitedUntil ?? '?'}` : ''
  }`;
}
