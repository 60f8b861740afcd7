/**
 * `claudomator task …`: submit, follow and steer tasks. Long only because there are many task commands,
 * each with its flags, help and output.
 */
import { readFile } from 'node:fs/promises';
import { InvalidArgumentError, type Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { SETTLED_TASK_STATES, TERMINAL_FAILURE_STATES } from '../../workflows/states.js';
import { TASK_STATES, type TaskState } from '../../workflows/types.js';
import { ValidationError, type ClaudomatorClient, type Task, type TaskDetails, type TaskSpec } from '../index.js';
import {
  describeQuestionPolicy,
  describeQuestionTimers,
  EXIT,
  info,
  QUESTION_POLICY_FLAGS,
  questionPolicyFromFlags,
  questionPolicyOptions,
  out,
  parseDuration,
  printFields,
  printJson,
  printTable,
  withClient,
  type JsonOption,
  type QuestionPolicyOptions,
} from './common.js';

/** Flags as the user typed them, for messages about spec fields. */
const TASK_FLAGS: Record<string, string> = {
  id: '--id',
  name: '--name',
  instructions: '--instructions',
  'agent.type': '--agent',
  'agent.model': '--model',
  'agent.command': '--command',
  'agent.maxBudgetUsd': '--budget',
  timeout: '--timeout',
  dependsOn: '--depends-on',
  parent: '--parent',
  story: '--story',
  project: '--project',
  repositoryUrl: '--repo',
  branch: '--branch',
  idempotencyKey: '--idempotency-key',
  ...QUESTION_POLICY_FLAGS,
};

interface SubmitOptions extends JsonOption, QuestionPolicyOptions {
  file?: string;
  id?: string;
  name?: string;
  instructions?: string;
  agent?: string;
  model?: string;
  command?: string;
  budget?: string;
  timeout?: string;
  dependsOn?: string[];
  parent?: string;
  story?: string;
  project?: string;
  repo?: string;
  branch?: string;
  idempotencyKey?: string;
  wait?: boolean;
}

export function registerTaskCommands(program: Command): void {
  const task = program.command('task').description('Tasks: one agent run each (with resumes), against a repository.');

  const submit = task
    .command('submit')
    .description(
      "Submit a task from flags, or tasks from a YAML/JSON spec file (several, with dependencies). Question policy flags replace the project's policy.",
    )
    .option('-f, --file <path>', 'a spec file: one task, a list, or {tasks: [...]} ("-" reads stdin)')
    .option('--id <id>', 'the task id (default: generated)')
    .option('--name <name>', 'a one-line name')
    .option('--instructions <text>', 'what the agent should do')
    .option('--agent <type>', 'claude, gemini, codex, command or any (default claude)')
    .option('--model <model>', "the agent's model (default: the classifier's pick, else the agent's default)")
    .option('--command <command>', 'for --agent command: the command line to run in the sandbox')
    .option('--budget <usd>', "the task's spending cap in US dollars")
    .option('--timeout <duration>', 'limit of one agent run, e.g. 30m or 2h')
    .option('--depends-on <ids...>', 'tasks that must finish first')
    .option('--parent <id>', 'make it a subtask of this task')
    .option('--story <id>', 'add it to this story')
    .option('--project <id>', "the project (default: the story's)")
    .option('--repo <url|path>', "the repository (default: the project's)")
    .option('--branch <branch>', 'the branch it works on (default: its own)')
    .option('--idempotency-key <key>', 'submitting the same key again returns the same task');
  questionPolicyOptions(submit, "the task's")
    .option('--wait', 'wait until the task settles or asks a question')
    .option('--json', 'print JSON')
    .action(async (opts: SubmitOptions) => {
      // The SDK validates the parsed file field by field; the cast only tells the compiler so.
      const input = (opts.file ? await readSpecFile(opts.file) : specFromFlags(opts)) as TaskSpec;
      const { tasks, final } = await withClient(async (client) => {
        const submitted = await client.submitTasks(input);
        const final =
          opts.wait && submitted.length === 1 ? await waitWithProgress(client, submitted[0]!.id) : undefined;
        return { tasks: submitted.map((t) => ({ ...t, url: client.taskUrl(t.id) })), final };
      }, TASK_FLAGS);
      if (opts.json)
        return printJson(final ? { ...tasks[0], ...final } : tasks.length === 1 && !opts.file ? tasks[0] : tasks);
      for (const t of tasks) out(`task ${t.id} submitted (${t.state}): ${t.name}\n  ${t.url}`);
      if (final) finishWait(final);
    });

  task
    .command('list')
    .description('List tasks, oldest first.')
    .option('--state <states>', 'only these states, comma-separated', parseStates)
    .option('--story <id>', 'only this story')
    .option('--project <id>', 'only this project')
    .option('--parent <id>', 'only subtasks of this task')
    .option('--limit <n>', 'at most this many (default 1000)', (raw) => Number(raw))
    .option('--json', 'print JSON')
    .action(
      async (
        opts: JsonOption & { state?: TaskState[]; story?: string; project?: string; parent?: string; limit?: number },
      ) => {
        const tasks = await withClient((client) =>
          client.listTasks({
            ...(opts.state ? { state: opts.state } : {}),
            ...(opts.story ? { storyId: opts.story } : {}),
            ...(opts.project ? { projectId: opts.project } : {}),
            ...(opts.parent ? { parentTaskId: opts.parent } : {}),
            ...(opts.limit ? { limit: opts.limit } : {}),
          }),
        );
        if (opts.json) return printJson(tasks);
        if (tasks.length === 0) return out('no tasks');
        printTable(tasks, [
          ['ID', (t) => t.id],
          ['STATE', (t) => t.state],
          ['AGENT', (t) => t.agent.type + (t.agent.model ? `/${t.agent.model}` : '')],
          ['STORY', (t) => t.storyId ?? '-'],
          ['NAME', (t) => t.name],
        ]);
      },
    );

  task
    .command('show <id>')
    .description(
      'Show a task: state, agent, question, summary, executions (model and why, session, changes, cost, error, logs).',
    )
    .option('--json', 'print JSON')
    .action(async (id: string, opts: JsonOption) => {
      const { details, url } = await withClient(async (client) => ({
        details: await client.getTask(id),
        url: client.taskUrl(id),
      }));
      if (opts.json) return printJson({ ...details, url });
      printTask(details, url);
    });

  task
    .command('answer <id> <answer...>')
    .description("Answer a blocked task's question; the same agent session resumes with it.")
    .option('--by <name>', 'who answers (kept in the history)')
    .option('--json', 'print JSON')
    .action(async (id: string, words: string[], opts: JsonOption & { by?: string }) => {
      const result = await withClient((client) => client.answerQuestion(id, words.join(' '), opts.by), {
        answer: '<answer>',
      });
      if (opts.json) return printJson({ taskId: id, ...result });
      out(`answered task ${id}; the agent resumes (follow it: claudomator task logs ${id} -f)`);
    });

  task
    .command('cancel <id>')
    .description("Cancel a task: the agent's process group is killed and its slot released.")
    .option('--json', 'print JSON')
    .action(async (id: string, opts: JsonOption) => {
      const cancelled = await withClient((client) => client.cancelTask(id));
      if (opts.json) return printJson(cancelled);
      out(`cancellation of task ${id} requested (it is ${cancelled.state}); follow it: claudomator task wait ${id}`);
    });

  task
    .command('retry <id>')
    .description('Run a FAILED, TIMED_OUT, CANCELLED or BUDGET_EXCEEDED task again, with its failures in the prompt.')
    .option('-m, --message <text>', 'instead, resume its last agent session with this message')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: JsonOption & { message?: string }) => {
      const retried = await withClient((client) => client.retryTask(id, opts.message ? { message: opts.message } : {}));
      if (opts.json) return printJson({ taskId: retried.id, retried: true });
      out(
        `task ${id} runs again${opts.message ? ', resuming its last session' : ''}; follow it: claudomator task wait ${id}`,
      );
    });

  task
    .command('logs <id>')
    .description("Show the agent's stream of the task's latest run as readable lines; -f follows the live run.")
    .option(
      '-f, --follow',
      'follow the live run, then the runs after it (a resume after an answer, a run after a rate limit)',
    )
    .option('--execution <id>', 'show this execution (see `task show`) instead of the latest')
    .option('--raw', "print the agent's stdout lines as written (everything else goes to stderr)")
    .option('--json', 'print one JSON object per entry (NDJSON): kind, text, executionId, event, state')
    .addHelpText(
      'after',
      `
Lines read "assistant: …", "tool Bash: npm test", "result: success $0.0123", "error: …"; the command
agent's output is shown as it is. The last lines say where the task stands: its state, a question and
how to answer it, or what to run next.

Without -f: the log of the latest run (or --execution's), then the task's state; a task that has not
run yet says so, exit 0.
With -f: waits for the first run if there is none yet; exits 0 when the task is READY or COMPLETED or
waits for an answer, 1 when it ended FAILED, TIMED_OUT, CANCELLED or BUDGET_EXCEEDED; Ctrl-C stops, exit 0.
Unknown task or execution: exit 3.`,
    )
    .action(async (id: string, opts: JsonOption & { follow?: boolean; execution?: string; raw?: boolean }) => {
      const following = new AbortController();
      const stop = (): void => following.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        const final = await withClient(async (client) => {
          let state: TaskState | undefined;
          const entries = client.taskLogs(id, {
            follow: opts.follow ?? false,
            raw: opts.raw ?? false,
            signal: following.signal,
            ...(opts.execution !== undefined ? { executionId: opts.execution } : {}),
          });
          for await (const entry of entries) {
            if (entry.kind === 'state') state = entry.state;
            if (opts.json) out(JSON.stringify(entry));
            else if (opts.raw && entry.kind !== 'raw') info(entry.text);
            else out(entry.text);
          }
          return state;
        });
        if (opts.follow && !following.signal.aborted && final && TERMINAL_FAILURE_STATES.includes(final)) {
          process.exitCode = EXIT.failure;
        }
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    });

  task
    .command('wait <id>')
    .description(
      'Wait until a task settles (or asks a question); exit 0 on READY, COMPLETED, BLOCKED or a state in --until.',
    )
    .option('--until <states>', 'comma-separated states to wait for', parseStates)
    .option('--timeout <duration>', 'give up after this long (exit 4), e.g. 90s or 10m', parseDuration)
    .option('--json', 'print JSON')
    .action(async (id: string, opts: JsonOption & { until?: TaskState[]; timeout?: number }) => {
      const final = await withClient((client) => waitWithProgress(client, id, opts.until, opts.timeout, !opts.json));
      if (opts.json) printJson(final);
      finishWait(final, opts.until, !opts.json);
    });
}

// ---- Helpers --------------------------------------------------------------------------------------

async function readSpecFile(file: string): Promise<unknown> {
  const text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
  try {
    return parseYaml(text) as unknown; // YAML is a superset of JSON: one parser for both
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new ValidationError(
      `Invalid task spec file ${file}: ${message}`,
      [{ path: file, message }],
      'Fix the YAML/JSON syntax.',
    );
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function specFromFlags(opts: SubmitOptions): TaskSpec {
  const budget = opts.budget === undefined ? undefined : Number(opts.budget);
  return {
    ...(opts.id !== undefined ? { id: opts.id } : {}),
    name: opts.name ?? '',
    instructions: opts.instructions ?? '',
    agent: {
      ...(opts.agent !== undefined ? { type: opts.agent as 'claude' } : {}),
      ...(opts.model !== undefined ? { model: opts.model } : {}),
      ...(opts.command !== undefined ? { command: opts.command } : {}),
      ...(budget !== undefined ? { maxBudgetUsd: budget } : {}),
    },
    ...(opts.timeout !== undefined ? { timeout: opts.timeout } : {}),
    ...(opts.dependsOn !== undefined ? { dependsOn: opts.dependsOn } : {}),
    ...(opts.parent !== undefined ? { parent: opts.parent } : {}),
    ...(opts.story !== undefined ? { story: opts.story } : {}),
    ...(opts.project !== undefined ? { project: opts.project } : {}),
    ...(opts.repo !== undefined ? { repositoryUrl: opts.repo } : {}),
    ...(opts.branch !== undefined ? { branch: opts.branch } : {}),
    ...(opts.idempotencyKey !== undefined ? { idempotencyKey: opts.idempotencyKey } : {}),
    ...(questionPolicyFromFlags(opts) ? { questionPolicy: questionPolicyFromFlags(opts) } : {}),
  };
}

function parseStates(raw: string): TaskState[] {
  const states = raw.split(',').map((s) => s.trim().toUpperCase());
  const bad = states.filter((s) => !(TASK_STATES as readonly string[]).includes(s));
  if (bad.length > 0)
    throw new InvalidArgumentError(`unknown state ${bad.join(', ')}; expected ${TASK_STATES.join(', ')}.`);
  return states as TaskState[];
}

/** Wait, printing each state change on stderr with the time it took. */
async function waitWithProgress(
  client: ClaudomatorClient,
  id: string,
  until?: TaskState[],
  timeoutMs?: number,
  progress = true,
): Promise<Task> {
  const started = Date.now();
  return client.waitForTask(id, {
    ...(until ? { until } : {}),
    ...(timeoutMs ? { timeoutMs } : {}),
    onChange: (state) => {
      if (progress) info(`task ${id}: ${state} (${Math.round((Date.now() - started) / 1000)}s)`);
    },
  });
}

/** Say how it ended, what to do next, and set the exit status. */
function finishWait(task: Task, until?: TaskState[], print = true): void {
  const failed = TERMINAL_FAILURE_STATES.includes(task.state) && !(until ?? []).includes(task.state);
  if (print) {
    out(`task ${task.id} is ${task.state}${task.summary ? `: ${task.summary}` : ''}`);
    if (task.state === 'BLOCKED' && task.question) {
      out(
        `  question: ${task.question.text}${task.question.options?.length ? ` (${task.question.options.join(' / ')})` : ''}`,
      );
      out(`  next: claudomator task answer ${task.id} "<answer>"`);
    }
    if (failed) {
      out(`  error: ${task.error ?? 'see the executions'}`);
      out(`  next: claudomator task show ${task.id}, then claudomator task retry ${task.id}`);
    }
  }
  if (failed) process.exitCode = EXIT.failure;
}

export function printTask({ task, executions, interactions }: TaskDetails, url: string): void {
  printFields([
    ['id', task.id],
    ['name', task.name],
    ['state', task.state],
    ['agent', task.agent.type + (task.agent.model ? ` (model ${task.agent.model})` : '')],
    ['story', task.storyId],
    ['parent', task.parentTaskId],
    ['depends on', task.dependsOn.length ? task.dependsOn.join(', ') : undefined],
    [
      'question',
      task.question
        ? `${task.question.text}${task.question.options?.length ? ` [${task.question.options.join(' / ')}]` : ''}`
        : undefined,
    ],
    ...(task.questionTimers ? describeQuestionTimers(task.questionTimers) : []),
    ['question policy', task.questionPolicy && describeQuestionPolicy(task.questionPolicy)],
    ['summary', task.summary],
    ['error', task.error],
    ['Web UI', url],
  ]);
  if (interactions.length > 0) {
    out('');
    out('questions and answers');
    const mark = { question: 'Q', answer: 'A', default_answer: 'A (default, nobody answered by the deadline)' };
    for (const i of interactions) out(`  ${i.at}  ${mark[i.kind]}: ${i.text}`);
  }
  if (executions.length > 0) {
    out('');
    out('executions');
    for (const e of executions) {
      const stats = e.changeStats
        ? `${e.changeStats.filesChanged} files +${e.changeStats.insertions} -${e.changeStats.deletions}`
        : undefined;
      out(
        `  ${e.id}  ${e.status}  ${e.agent ?? ''}${e.model ? `/${e.model}` : ''}  ${e.startTime}${e.endTime ? ` → ${e.endTime}` : ''}`,
      );
      printFields([
        ['    model', e.modelReason ? `${e.model ?? "the agent's default"} (${e.modelReason})` : undefined],
        ['    session', e.sessionId],
        ['    resumed with', e.resumeAnswer],
        ['    changes', stats],
        ['    cost', e.costUsd !== undefined ? `$${e.costUsd.toFixed(4)}` : undefined],
        ['    summary', e.summary],
        ['    error', e.error],
        ['    stdout', e.stdoutPath],
        ['    stderr', e.stderrPath],
      ]);
    }
  }
  if (!SETTLED_TASK_STATES.includes(task.state) && task.state !== 'BLOCKED')
    out(`\nfollow it: claudomator task wait ${task.id}`);
}
