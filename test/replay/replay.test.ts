/**
 * The determinism guard: every committed history (test/replay/histories/*.json, recorded from the
 * lifecycle tests with RECORD_HISTORIES=1) replays against the current workflow code. A change that
 * would break running workflows fails here, in CI, before it ships.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { describe, expect, inject, it } from 'vitest';
import { HISTORIES_DIR } from '../helpers/histories.js';

/** The committed histories (parsed JSON: the replay API decodes it), keyed by the file's name. */
async function loadHistories(): Promise<Array<{ name: string; workflowId: string; history: unknown }>> {
  const files = (await readdir(HISTORIES_DIR)).filter((f) => f.endsWith('.json')).sort();
  return Promise.all(
    files.map(async (file) => {
      const recorded = JSON.parse(await readFile(path.join(HISTORIES_DIR, file), 'utf8')) as {
        workflowId: string;
        history: unknown;
      };
      return { name: path.basename(file, '.json'), ...recorded };
    }),
  );
}

describe('recorded histories', () => {
  it('cover every lifecycle path of the task, story and agent pool workflows', async () => {
    const names = (await loadHistories()).map((h) => h.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'task-success',
        'task-question-answer',
        'task-question-notified',
        'task-question-policy',
        'task-answer-signal',
        // Recorded once from the code before the `answer`/`acknowledgeAgent` signal handlers (commit
        // 184e13a), receiving those signals: the `patched` gate must make today's code ignore them too.
        'task-answer-signal-before-handler',
        'pool-acknowledge-signal-before-handler',
        'pool-drain-sends-before-continue-as-new',
        'task-rate-limited',
        'task-cancelled',
        'task-failed',
        'task-dependencies',
        'task-dependency-failed',
        'task-subtasks',
        'story-review-ready',
        'story-fix-loop',
        'story-deploy-retried',
        'story-restarted-after-needs-fix',
        'story-deploy-cannot-start',
        'story-deploy-cancelled',
        'story-agent-validation-needs-fix',
        'story-validation-waits-on-drained-agent',
        'pool-drain-acknowledge',
        'pool-acknowledge-signal',
        'pool-leaks-reclaimed',
      ]),
    );
  });

  it('replay against the current workflow code without nondeterminism', async () => {
    const histories = await loadHistories();
    const results = [];
    for await (const result of Worker.runReplayHistories(
      { workflowBundle: { codePath: inject('workflowBundlePath') } },
      histories,
    )) {
      results.push({ workflowId: result.workflowId, error: result.error?.message });
    }
    expect(results).toEqual(histories.map((h) => ({ workflowId: h.workflowId, error: undefined })));
    expect(results.length).toBeGreaterThanOrEqual(13);
  });

  it('fail against incompatible workflow code (the guard can fail)', async () => {
    const [history] = (await loadHistories()).filter((h) => h.name === 'task-success');
    const changed = await bundleWorkflowCode({
      workflowsPath: new URL('./fixtures/changed-workflows.ts', import.meta.url).pathname,
      logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} },
    });
    const error = await Worker.runReplayHistory(
      { workflowBundle: changed },
      history!.history,
      history!.workflowId,
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(`${(error as Error).name}: ${(error as Error).message}`).toMatch(/DeterminismViolation|[Nn]ondetermin/);
  });
});
