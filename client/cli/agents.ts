/** `claudomator agents …`: the agent pool's view, and the operator's controls. */
import { InvalidArgumentError, type Command } from 'commander';
import type { AgentStatus, PoolStatus } from '../index.js';
import { info, out, parseCount, parseDuration, printJson, printTable, withClient, type JsonOption } from './common.js';

export function registerAgentCommands(program: Command): void {
  const agents = program
    .command('agents')
    .description(
      'Show every agent (active, waiting, rate limited until, drained, failures, limit), the global cap and the per-host cap; from Postgres when no orchestration worker answers.',
    )
    .option(
      '--json',
      'print the agents as JSON (from Postgres, each carries "source": "record"; `agents cap --json` prints the whole pool)',
    )
    .action(async (opts: JsonOption) => {
      const { overview, pool, hostMaxRuns } = await withClient(async (client) => {
        const overview = await client.agentOverview();
        // The global cap is the pool's own; with no orchestration worker answering it is not known.
        const pool = overview.source === 'pool' ? await client.poolStatus().catch(() => undefined) : undefined;
        return { overview, pool, hostMaxRuns: client.config.hostMaxRuns };
      });
      if (opts.json) {
        if (overview.note) info(overview.note);
        return printJson(
          overview.source === 'pool' ? overview.statuses : overview.statuses.map((s) => ({ ...s, source: 'record' })),
        );
      }
      printAgents(overview.statuses);
      if (overview.note) out(`\n${overview.note}`);
      out('');
      if (pool) out(describePool(pool));
      out(
        hostMaxRuns === undefined
          ? 'agent hosts: no per-host cap in this configuration (CLAUDOMATOR_HOST_MAX_RUNS)'
          : `agent hosts: at most ${hostMaxRuns} agent runs each (CLAUDOMATOR_HOST_MAX_RUNS in this configuration)`,
      );
    });

  agents
    .command('cap')
    .argument('[runs]', 'a whole number (0 stops new grants), or "none" to remove the cap', parseCap)
    .description('Show, or set, how many agent runs the pool grants at once across all agents.')
    .option('--json', 'print JSON')
    .action(async (cap: number | null | undefined, _opts: JsonOption, cmd: Command) => {
      const pool = await withClient(
        (client) => (cap === undefined ? client.poolStatus() : client.setMaxConcurrent(cap)),
        { maxConcurrent: '<runs>' },
      );
      if (wantsJson(cmd)) return printJson(pool);
      out(describePool(pool));
    });

  agents
    .command('ack <agent>')
    .description('Acknowledge a drained agent: its failure count resets and it takes tasks again.')
    .option('--by <name>', 'who acknowledges (recorded)')
    .option('--json', 'print JSON')
    .action(async (agent: string, opts: JsonOption & { by?: string }, cmd: Command) => {
      const status = await withClient((client) => client.acknowledgeAgent(agent, opts.by));
      if (wantsJson(cmd)) return printJson(status);
      out(`${agent} acknowledged: ${describe(status)}`);
    });

  agents
    .command('limit <agent> <slots>')
    .description('Change how many tasks may hold the agent at once (0 stops new grants).')
    .option('--json', 'print JSON')
    .action(async (agent: string, slots: string, _opts: JsonOption, cmd: Command) => {
      const status = await withClient((client) => client.setAgentLimit(agent, parseCount(slots)));
      if (wantsJson(cmd)) return printJson(status);
      out(`${agent}: ${describe(status)}`);
    });

  agents
    .command('pause <agent>')
    .description('Stop grants to the agent until resumed (or for --for).')
    .option('--for <duration>', 'pause for this long, e.g. 30m', parseDuration)
    .option('--reason <text>', 'why (recorded)')
    .option('--json', 'print JSON')
    .action(async (agent: string, opts: JsonOption & { for?: number; reason?: string }, cmd: Command) => {
      const status = await withClient((client) =>
        client.pauseAgent(agent, {
          ...(opts.for ? { until: new Date(Date.now() + opts.for).toISOString() } : {}),
          ...(opts.reason ? { reason: opts.reason } : {}),
        }),
      );
      if (wantsJson(cmd)) return printJson(status);
      out(`${agent} paused: ${describe(status)}`);
    });

  agents
    .command('resume <agent>')
    .description('End a pause (an operator pause, a rate limit or a quota pause) of the agent.')
    .option('--json', 'print JSON')
    .action(async (agent: string, _opts: JsonOption, cmd: Command) => {
      const status = await withClient((client) => client.resumeAgent(agent));
      if (wantsJson(cmd)) return printJson(status);
      out(`${agent} resumed: ${describe(status)}`);
    });
}

/** `--json` after a subcommand: `agents` has the same option, and commander gives it to the parent. */
function wantsJson(cmd: Command): boolean {
  return cmd.optsWithGlobals<JsonOption>().json === true;
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

function describePool(pool: PoolStatus): string {
  const now = `${pool.running} running, ${pool.waiting} waiting`;
  return pool.maxConcurrent === undefined
    ? `pool: ${now}; no global cap (set one: claudomator agents cap <runs>)`
    : `pool: ${now}; at most ${pool.maxConcurrent} at once${pool.running >= pool.maxConcurrent ? ' (reached)' : ''}`;
}

function parseCap(raw: string): number | null {
  if (raw.trim().toLowerCase() === 'none') return null;
  if (!/^\d+$/.test(raw.trim()))
    throw new InvalidArgumentError('expected a whole number, or "none" to remove the cap.');
  return Number(raw);
}

function describe(s: AgentStatus): string {
  return `${s.activeTasks}/${s.limit} active, ${s.waiting} waiting${s.drained ? ', drained' : ''}${s.paused ? ', paused' : ''}${
    s.rateLimited ? `, rate limited until ${s.rateLimitedUntil ?? '?'}` : ''
  }`;
}
