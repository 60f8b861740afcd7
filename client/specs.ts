/**
 * Schemas for what people hand to claudomator: task, story and project specs.
 *
 * Validation happens at the edges (SDK, CLI, workflow input) and reports every problem with the
 * path of the field and what it expects, e.g. `tasks[1].agent.type: expected one of claude, …`.
 * Unknown keys are errors, so a typo like `dependOn` is caught instead of silently ignored.
 */
import ms from 'ms';
import { z } from 'zod';
import { NOTIFY_URL_EXPECTED, notifyUrl } from '../infra/config.js';
import type { SpecIssue } from '../store/errors.js';
import { questionPolicyIssues } from '../workflows/question-policy.js';
import { AGENT_TYPES, QUESTION_EXPIRY_OUTCOMES, type QuestionPolicy } from '../workflows/types.js';

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** Task, story and project ids become workflow ids and directory names: keep them path-safe. */
export const idSchema = z
  .string()
  .regex(ID_PATTERN, 'must be 1-100 letters, digits, ".", "_" or "-", starting with a letter or digit')
  .refine((s) => !s.includes('..'), 'must not contain ".."');

/** The rules of `git check-ref-format --branch`, so a bad name fails here and not halfway through a run. */
export function isValidBranchName(name: string): boolean {
  return (
    name.length > 0 &&
    name.length <= 200 &&
    !name.startsWith('-') &&
    !name.startsWith('/') &&
    !name.endsWith('/') &&
    !name.endsWith('.') &&
    !name.endsWith('.lock') &&
    !name.includes('..') &&
    !name.includes('//') &&
    !name.includes('@{') &&
    name !== '@' &&
    !/[\s~^:?*[\\]/.test(name) &&
    ![...name].some((ch) => ch.charCodeAt(0) < 32 || ch.charCodeAt(0) === 127) &&
    !name.split('/').some((part) => part.startsWith('.'))
  );
}

export const branchSchema = z
  .string()
  .refine(isValidBranchName, 'is not a valid git branch name (no spaces, "..", "~^:?*[\\", leading "-" or "." parts)');

export const agentChoiceSchema = z.enum([...AGENT_TYPES, 'any']);

/** A duration as milliseconds or text such as "90s", "30m", "2h", "1.5 hours". */
export const durationSchema = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const millis = typeof value === 'number' ? value : ms(value as ms.StringValue);
  if (typeof millis !== 'number' || !Number.isFinite(millis) || millis <= 0) {
    ctx.addIssue({ code: 'custom', message: 'must be a positive duration such as "90s", "30m" or "2h"' });
    return z.NEVER;
  }
  return Math.round(millis);
});

export const agentConfigSpecSchema = z
  .object({
    type: agentChoiceSchema.default('claude'),
    model: z.string().min(1).optional(),
    systemPromptAppend: z.string().optional(),
    allowedTools: z.array(z.string().min(1)).optional(),
    permissionMode: z.enum(['default', 'acceptEdits', 'plan', 'bypassPermissions', 'dontAsk', 'auto']).optional(),
    maxBudgetUsd: z.number().positive().optional(),
    command: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((agent, ctx) => {
    if (agent.type === 'command' && !agent.command) {
      ctx.addIssue({ code: 'custom', path: ['command'], message: 'is required when type is "command"' });
    }
    if (agent.command && agent.type !== 'command') {
      ctx.addIssue({ code: 'custom', path: ['command'], message: 'is only allowed when type is "command"' });
    }
  });

/**
 * What happens while a task waits for an answer: durations as text ("30m", "2h") or milliseconds,
 * checked together (remindAfter < escalateAfter < expireAfter; onExpire with expireAfter; defaultAnswer
 * with onExpire "answer"). Stored as a `QuestionPolicy` (milliseconds).
 */
export const questionPolicySchema = z
  .object({
    remindAfter: durationSchema.optional(),
    escalateAfter: durationSchema.optional(),
    expireAfter: durationSchema.optional(),
    onExpire: z.enum(QUESTION_EXPIRY_OUTCOMES).optional(),
    defaultAnswer: z.string().min(1).optional(),
  })
  .strict()
  .transform((spec, ctx): QuestionPolicy => {
    const policy: QuestionPolicy = {
      ...(spec.remindAfter !== undefined ? { remindAfterMs: spec.remindAfter } : {}),
      ...(spec.escalateAfter !== undefined ? { escalateAfterMs: spec.escalateAfter } : {}),
      ...(spec.expireAfter !== undefined ? { expireAfterMs: spec.expireAfter } : {}),
      ...(spec.onExpire !== undefined ? { onExpire: spec.onExpire } : {}),
      ...(spec.defaultAnswer !== undefined ? { defaultAnswer: spec.defaultAnswer } : {}),
    };
    for (const issue of questionPolicyIssues(policy))
      ctx.addIssue({ code: 'custom', path: [issue.field], message: issue.message });
    return policy;
  });
export type QuestionPolicySpec = z.input<typeof questionPolicySchema>;

export const taskSpecSchema = z
  .object({
    id: idSchema.optional(),
    name: z.string().min(1).max(200),
    instructions: z.string().min(1),
    agent: agentConfigSpecSchema.default({ type: 'claude' }),
    timeout: durationSchema.optional(),
    dependsOn: z.array(idSchema).default([]),
    parent: idSchema.optional(),
    story: idSchema.optional(),
    project: idSchema.optional(),
    repositoryUrl: z.string().min(1).optional(),
    branch: branchSchema.optional(),
    /** Reminders, escalation and a deadline for its questions; replaces the project's policy (`{}`: none). */
    questionPolicy: questionPolicySchema.optional(),
    /** Submitting the same key twice returns the task of the first submission. */
    idempotencyKey: z.string().min(1).max(200).optional(),
  })
  .strict();
export type TaskSpec = z.input<typeof taskSpecSchema>;
export type ParsedTaskSpec = z.output<typeof taskSpecSchema>;

/**
 * A task file: one task, a list of tasks, or `{ tasks: [...] }`; dependencies may name tasks of the
 * same file. The shape is chosen first, so errors point at fields (`tasks[1].agent.type`) rather than
 * at "no variant of the union matched".
 */
export function parseTaskFile(input: unknown, what = 'task file'): ParsedTaskSpec[] {
  if (Array.isArray(input)) return parseSpec(z.array(taskSpecSchema).min(1), input, what, 'tasks');
  if (typeof input === 'object' && input !== null && 'tasks' in input) {
    return parseSpec(z.object({ tasks: z.array(taskSpecSchema).min(1) }).strict(), input, what).tasks;
  }
  return [parseSpec(taskSpecSchema, input, what)];
}

export const validationConfigSchema = z
  .object({
    command: z.string().min(1).optional(),
    instructions: z.string().min(1).optional(),
    agent: agentChoiceSchema.optional(),
  })
  .strict()
  .refine((v) => v.command !== undefined || v.instructions !== undefined, {
    message: 'needs a command (such as the test suite) or instructions for an agent',
  });

/** A notification receiver's URL: checked like the CLAUDOMATOR_NOTIFY_* variables. */
const notifyUrlSchema = z
  .string()
  .refine((raw) => notifyUrl(raw) !== undefined, `must be ${NOTIFY_URL_EXPECTED}`)
  .transform((raw) => notifyUrl(raw) ?? raw);

/** A project's own notification receivers; each one it sets replaces the global one. */
export const notifyConfigSchema = z
  .object({
    webhookUrl: notifyUrlSchema.optional(),
    slackUrl: notifyUrlSchema.optional(),
    escalationWebhookUrl: notifyUrlSchema.optional(),
    escalationSlackUrl: notifyUrlSchema.optional(),
  })
  .strict();

export const projectSpecSchema = z
  .object({
    id: idSchema,
    remoteUrl: z.string().min(1, 'must name a git URL, a local path or a bare repository'),
    defaultBranch: branchSchema.default('main'),
    deployCommand: z.string().min(1).optional(),
    validation: validationConfigSchema.optional(),
    notify: notifyConfigSchema.optional(),
    /** The question policy of the project's tasks (a task's own replaces it). */
    questionPolicy: questionPolicySchema.optional(),
  })
  .strict();
export type ProjectSpec = z.input<typeof projectSpecSchema>;

export const storySpecSchema = z
  .object({
    id: idSchema,
    project: idSchema,
    branch: branchSchema,
    name: z.string().min(1).max(200).optional(),
    maxFixAttempts: z.number().int().min(0).max(10).default(2),
  })
  .strict();
export type StorySpec = z.input<typeof storySpecSchema>;

export type { SpecIssue } from '../store/errors.js';

/** A spec that does not match its schema; `issues` names every bad field. */
export class SpecValidationError extends Error {
  override readonly name = 'SpecValidationError';
  constructor(
    readonly what: string,
    readonly issues: SpecIssue[],
  ) {
    super(`Invalid ${what}:\n${issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`).join('\n')}`);
  }
}

export function formatPath(path: readonly PropertyKey[], root = ''): string {
  let out = root;
  for (const key of path) {
    out += typeof key === 'number' ? `[${key}]` : out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}

/** Parse `input` with `schema` or throw a `SpecValidationError` listing each bad field. */
export function parseSpec<S extends z.ZodType>(schema: S, input: unknown, what: string, root = ''): z.output<S> {
  // reportInput: without it zod 4 leaves `issue.input` out, and a wrong type would read as a missing field.
  const result = schema.safeParse(input, { reportInput: true });
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({
    path: formatPath(issue.path, root),
    message: issueMessage(issue),
  }));
  throw new SpecValidationError(what, issues);
}

function issueMessage(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => String(v)).join(', ')}`;
    case 'unrecognized_keys':
      return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    case 'too_small':
      if (issue.origin === 'string' && Number(issue.minimum) === 1) return 'must not be empty';
      if (issue.origin === 'array' && Number(issue.minimum) === 1) return 'must list at least one entry';
      return issue.origin === 'string'
        ? `must be at least ${String(issue.minimum)} characters`
        : `must be at least ${String(issue.minimum)}`;
    case 'too_big':
      return issue.origin === 'string'
        ? `must be at most ${String(issue.maximum)} characters`
        : `must be at most ${String(issue.maximum)}`;
    case 'invalid_type':
      return issue.input === undefined ? `is required (${issue.expected})` : `expected ${issue.expected}`;
    default:
      return issue.message;
  }
}
