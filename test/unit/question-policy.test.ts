/**
 * Question policies without a server: which timer comes next (reminders repeating, the escalation once,
 * the expiry ending it), how the timers read, what the agent is told on a default answer, the checks
 * a spec goes through before anything is stored, the CLI flags, and the notices' deadline.
 */
import { describe, expect, it } from 'vitest';
import { slackText, webhookPayload } from '../../activities/notify.js';
import { describeQuestionPolicy, questionPolicyFromFlags } from '../../client/cli/common.js';
import {
  parseSpec,
  projectSpecSchema,
  questionPolicySchema,
  SpecValidationError,
  taskSpecSchema,
} from '../../client/specs.js';
import {
  defaultAnswerText,
  describeQuestionTimers,
  expiredError,
  formatDuration,
  hasTimers,
  nextQuestionStep,
  questionPolicyIssues,
  questionTimers,
  type QuestionProgress,
  type QuestionStep,
} from '../../workflows/question-policy.js';
import type { QuestionPolicy } from '../../workflows/types.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const ASKED = Date.parse('2026-12-05T10:00:00Z');

/** Every step a policy takes when nobody answers, as the workflow performs them. */
function stepsOf(policy: QuestionPolicy, limit = 20): QuestionStep[] {
  const progress: QuestionProgress = { askedAt: ASKED, remindersSent: 0, escalated: false };
  const steps: QuestionStep[] = [];
  for (let step = nextQuestionStep(policy, progress); step && steps.length < limit;) {
    steps.push(step);
    if (step.kind === 'expire') break;
    if (step.kind === 'remind') progress.remindersSent = step.reminder;
    else progress.escalated = true;
    step = nextQuestionStep(policy, progress);
  }
  return steps;
}

const summary = (steps: QuestionStep[]): string[] =>
  steps.map((s) => `${s.kind}${s.kind === 'remind' ? ` ${s.reminder}` : ''} +${formatDuration(s.at - ASKED)}`);

describe('the next step of an open question', () => {
  it('reminds repeatedly, escalates once, and expires at the deadline, in time order', () => {
    const steps = stepsOf({
      remindAfterMs: 30 * MIN,
      escalateAfterMs: 75 * MIN,
      expireAfterMs: 2 * HOUR,
      onExpire: 'fail',
    });
    expect(summary(steps)).toEqual([
      'remind 1 +30m',
      'remind 2 +1h',
      'escalate +1h15m',
      'remind 3 +1h30m',
      'expire +2h',
    ]);
  });

  it('sends no reminder due at the deadline: the expiry comes first', () => {
    const steps = stepsOf({ remindAfterMs: HOUR, expireAfterMs: 2 * HOUR, onExpire: 'cancel' });
    expect(summary(steps)).toEqual(['remind 1 +1h', 'expire +2h']);
  });

  it('at the same instant escalates before it reminds', () => {
    const steps = stepsOf({
      remindAfterMs: HOUR,
      escalateAfterMs: 2 * HOUR,
      expireAfterMs: 3 * HOUR,
      onExpire: 'fail',
    });
    expect(summary(steps)).toEqual(['remind 1 +1h', 'escalate +2h', 'remind 2 +2h', 'expire +3h']);
  });

  it('without a deadline reminds for as long as nobody answers; an empty policy has no timers', () => {
    expect(summary(stepsOf({ remindAfterMs: 10 * MIN }, 4))).toEqual([
      'remind 1 +10m',
      'remind 2 +20m',
      'remind 3 +30m',
      'remind 4 +40m',
    ]);
    expect(nextQuestionStep({}, { askedAt: ASKED, remindersSent: 0, escalated: false })).toBeUndefined();
    expect(summary(stepsOf({ escalateAfterMs: HOUR }))).toEqual(['escalate +1h']);
    expect([hasTimers(undefined), hasTimers({}), hasTimers({ escalateAfterMs: HOUR })]).toEqual([false, false, true]);
  });

  it('resumes where a replayed wait left off: the steps already taken are not due again', () => {
    const policy: QuestionPolicy = {
      remindAfterMs: 30 * MIN,
      escalateAfterMs: 75 * MIN,
      expireAfterMs: 2 * HOUR,
      onExpire: 'fail',
    };
    expect(nextQuestionStep(policy, { askedAt: ASKED, remindersSent: 2, escalated: true })).toEqual({
      kind: 'remind',
      at: ASKED + 90 * MIN,
      reminder: 3,
    });
  });
});

describe('how the timers read', () => {
  const policy: QuestionPolicy = {
    remindAfterMs: 30 * MIN,
    escalateAfterMs: HOUR,
    expireAfterMs: 2 * HOUR,
    onExpire: 'answer',
    defaultAnswer: 'use postgres',
  };

  it('gives the deadline, the next reminder before it and the escalation still to come', () => {
    expect(questionTimers(policy, { askedAt: ASKED, remindersSent: 0, escalated: false })).toEqual({
      askedAt: '2026-12-05T10:00:00.000Z',
      expiresAt: '2026-12-05T12:00:00.000Z',
      onExpire: 'answer',
      nextReminderAt: '2026-12-05T10:30:00.000Z',
      escalatesAt: '2026-12-05T11:00:00.000Z',
      remindersSent: 0,
      escalated: false,
    });
    const late = questionTimers(policy, { askedAt: ASKED, remindersSent: 3, escalated: true });
    expect(late).not.toHaveProperty('nextReminderAt');
    expect(late).not.toHaveProperty('escalatesAt');
    expect(describeQuestionTimers(late, policy.defaultAnswer)).toBe(
      [
        '**Deadline:** 2026-12-05T12:00:00.000Z; unanswered by then, the agent gets the default answer "use postgres".',
        'Reminders sent: 3.',
        'Escalated.',
      ].join('\n'),
    );
  });

  it('tells the agent that a default answer is a default, and says why a task failed', () => {
    const text = defaultAnswerText(policy);
    expect(text).toContain('Nobody answered your question within 2h');
    expect(text).toContain('default answer');
    expect(text).toContain('not a human');
    expect(text).toContain('use postgres');
    expect(expiredError({ expireAfterMs: 90 * MIN, onExpire: 'cancel' })).toBe(
      'the question expired: nobody answered within 1h30m (question policy onExpire: cancel)',
    );
  });

  it('formats durations as people write them', () => {
    expect([45_000, 30 * MIN, 2 * HOUR, 90 * MIN, 3 * 24 * HOUR].map(formatDuration)).toEqual([
      '45s',
      '30m',
      '2h',
      '1h30m',
      '3d',
    ]);
  });
});

describe('checking a policy', () => {
  it('accepts a sensible policy, and the empty one', () => {
    expect(
      questionPolicyIssues({
        remindAfterMs: 30 * MIN,
        escalateAfterMs: 2 * HOUR,
        expireAfterMs: 8 * HOUR,
        onExpire: 'fail',
      }),
    ).toEqual([]);
    expect(questionPolicyIssues({})).toEqual([]);
  });

  it('names the field and the fix for each mistake', () => {
    const issues = (policy: QuestionPolicy) => questionPolicyIssues(policy).map((i) => `${i.field}: ${i.message}`);
    expect(issues({ remindAfterMs: 2 * HOUR, escalateAfterMs: HOUR })).toEqual([
      'escalateAfter: must be longer than remindAfter (2h): remind first, escalate later; got 1h',
    ]);
    expect(issues({ escalateAfterMs: 3 * HOUR, expireAfterMs: 2 * HOUR, onExpire: 'fail' })).toEqual([
      'expireAfter: must be longer than escalateAfter (3h), or the escalation never goes out; got 2h',
    ]);
    expect(issues({ expireAfterMs: HOUR })).toEqual([
      'onExpire: is required with expireAfter: fail, cancel or answer (with defaultAnswer)',
    ]);
    expect(issues({ onExpire: 'cancel' })).toEqual([
      'expireAfter: is required with onExpire (cancel): the deadline, such as "2h"',
    ]);
    expect(issues({ expireAfterMs: HOUR, onExpire: 'answer' })).toEqual([
      'defaultAnswer: is required with onExpire "answer": the text the agent gets',
    ]);
    expect(issues({ expireAfterMs: HOUR, onExpire: 'fail', defaultAnswer: 'x' })).toEqual([
      'defaultAnswer: is only used with onExpire "answer"; set onExpire: answer or drop it',
    ]);
    expect(issues({ remindAfterMs: 10_000 })).toEqual([
      'remindAfter: must be at least 1m (reminders at most once a minute), got 10s',
    ]);
  });

  it('parses durations in task and project specs and reports issues by their spec path', () => {
    expect(
      parseSpec(
        questionPolicySchema,
        { remindAfter: '30m', expireAfter: '2h', onExpire: 'answer', defaultAnswer: 'ok' },
        'policy',
      ),
    ).toEqual({ remindAfterMs: 30 * MIN, expireAfterMs: 2 * HOUR, onExpire: 'answer', defaultAnswer: 'ok' });
    const task = parseSpec(
      taskSpecSchema,
      { name: 'n', instructions: 'i', questionPolicy: { escalateAfter: 3_600_000 } },
      'task',
    );
    expect(task.questionPolicy).toEqual({ escalateAfterMs: HOUR });

    const refused = (() => {
      try {
        parseSpec(
          projectSpecSchema,
          { id: 'p', remoteUrl: '/r', questionPolicy: { remindAfter: '3h', expireAfter: '2h', onExpire: 'later' } },
          'project',
        );
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(refused).toBeInstanceOf(SpecValidationError);
    expect((refused as SpecValidationError).issues).toEqual([
      { path: 'questionPolicy.onExpire', message: 'expected one of fail, cancel, answer' },
    ]);
    expect(() =>
      parseSpec(
        projectSpecSchema,
        { id: 'p', remoteUrl: '/r', questionPolicy: { remindAfter: '3h', expireAfter: '2h' } },
        'project',
      ),
    ).toThrow(
      /questionPolicy\.expireAfter: must be longer than remindAfter \(3h\)[\s\S]*questionPolicy\.onExpire: is required/,
    );
  });
});

describe('notices of a question with a deadline', () => {
  it('carry the deadline and its outcome in the JSON and say them in Slack', () => {
    const payload = webhookPayload(
      {
        event: {
          kind: 'task_question',
          taskId: 't1',
          executionId: 'e1',
          question: 'Which database?',
          channel: 'primary',
          reminder: 2,
          expiresAt: '2026-12-05T18:00:00.000Z',
          onExpire: 'answer',
        },
        key: 'task-t1.question.e1.primary.reminder-2',
        workflowId: 'task-t1',
      },
      'http://ui/task-t1',
    );
    expect(payload).toMatchObject({ reminder: 2, expiresAt: '2026-12-05T18:00:00.000Z', onExpire: 'answer' });
    expect(slackText(payload).split('\n')).toEqual([
      '*claudomator:* Reminder 2: task t1 is blocked on a question',
      '> Which database?',
      'Deadline: 2026-12-05T18:00:00.000Z (then: answer)',
      'Answer: `claudomator task answer t1 "<answer>"`',
      'Web UI: <http://ui/task-t1>',
    ]);
  });
});

describe('the CLI flags', () => {
  it('make a spec the SDK checks, and a policy reads back in one line', () => {
    expect(questionPolicyFromFlags({})).toBeUndefined();
    const spec = questionPolicyFromFlags({
      remindAfter: '30m',
      expireAfter: '8h',
      onExpire: 'answer',
      defaultAnswer: 'go',
    });
    expect(spec).toEqual({ remindAfter: '30m', expireAfter: '8h', onExpire: 'answer', defaultAnswer: 'go' });
    expect(describeQuestionPolicy(parseSpec(questionPolicySchema, spec, 'policy'))).toBe(
      'remind every 30m, expire after 8h: answer "go"',
    );
    expect(describeQuestionPolicy({})).toBe('none (no reminders, no deadline)');
  });
});
