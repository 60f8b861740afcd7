/**
 * No clear text on the server: a whole story (a task that asks a question and is answered, a command
 * task, merge, deploy, validation) and a failing task run with encryption on; then the full history
 * of every workflow they touched — the story, its tasks and validation task, the failed task, the
 * agent pool — is scanned as the server stores it for the instructions, a secret planted in them, the
 * task names, the agent's question and the human's answer. None may appear; decrypted, they all do.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPayloadCodec } from '../../infra/codec.js';
import { storyWorkflowId, taskWorkflowId } from '../../workflows/definitions.js';
import { makeBareRepo, tempDir } from '../helpers/fake-agent.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { devServerEnv, uniqueName } from '../helpers/temporal.js';
import {
  encoding,
  historyAsStored,
  historyPayloads,
  isOurs,
  isSearchAttribute,
  keysVariable,
  newKey,
  startCodecStack,
} from './helpers/codec.js';

const db = useTestDatabase();
let env: TestWorkflowEnvironment;
const scratch = tempDir('codec-history');

beforeAll(async () => {
  env = await devServerEnv();
});
afterAll(async () => {
  await env?.teardown();
  scratch.remove();
});

describe('histories with encryption on', () => {
  it('hold none of the instructions, secrets, names, question or answer of a full story, in any workflow', async () => {
    const name = uniqueName('history-scan');
    const stack = await startCodecStack(env, db.current, {
      name,
      dir: `${scratch.dir}/${name}`,
      keys: keysVariable(newKey('scan-key')),
    });
    try {
      const secret = `ghp_${name.replace(/-/g, '')}PLANTED`;
      const texts = {
        instructions: 'Implement the greeting endpoint exactly as the product brief says',
        secret,
        taskName: 'Greeting endpoint for the acme portal',
        commandTaskName: 'Notes about the acme rollout',
        question: 'Which database should I use?',
        answer: 'Use postgres; the acme staging password is hunter2',
        failure: 'refusing the acme deploy',
      };
      const remote = makeBareRepo(`${scratch.dir}/${name}-repo`);
      const { client } = stack;
      await client.addProject({
        id: name,
        remoteUrl: remote,
        deployCommand: 'echo deployed',
        validation: { command: 'test -f answer.txt && test -f notes.txt' },
      });
      await client.createStory({ id: name, project: name, branch: `story/${name.slice(0, 40)}` });
      const [asking, noting] = await client.submitTasks([
        {
          id: `${name}-asks`,
          name: texts.taskName,
          instructions: `${texts.instructions} [scenario:question]. Deploy with the token ${secret}.`,
          agent: { type: 'claude' },
          story: name,
        },
        {
          id: `${name}-notes`,
          name: texts.commandTaskName,
          instructions: `${texts.instructions}; the token is ${secret}`,
          agent: { type: 'command', command: 'touch notes.txt' },
          story: name,
        },
      ]);
      await client.startStory(name);
      const blocked = await client.waitForTask(asking!.id, { timeoutMs: 120_000 });
      expect(blocked).toMatchObject({ state: 'BLOCKED', question: { text: texts.question } });
      await client.answerQuestion(asking!.id, texts.answer);
      const story = await client.waitForStory(name, { timeoutMs: 180_000 });
      expect(story.status, story.detail).toBe('REVIEW_READY');

      const [failing] = await client.submitTasks({
        id: `${name}-fails`,
        name: texts.taskName,
        instructions: `${texts.instructions}, token ${secret}`,
        // No shell: the command agent splits on spaces (a backslash escapes one).
        agent: {
          type: 'command',
          command: `node -e console.error(${JSON.stringify(`${texts.failure} with ${secret}`).replace(/ /g, '\\ ')});process.exit(3)`,
        },
      });
      expect((await client.waitForTask(failing!.id, { timeoutMs: 90_000 })).state).toBe('FAILED');
      expect((await client.getTask(failing!.id)).executions[0]!.error).toContain(texts.failure);

      const storyTasks = await client.listTasks({ storyId: name });
      expect(storyTasks.map((t) => t.id)).toEqual(expect.arrayContaining([asking!.id, noting!.id]));
      expect(storyTasks.some((t) => t.kind === 'validation')).toBe(true);
      const workflowIds = [
        storyWorkflowId(name),
        ...storyTasks.map((t) => taskWorkflowId(t.id)),
        taskWorkflowId(failing!.id),
        stack.config.poolWorkflowId,
      ];

      const codec = createPayloadCodec(stack.config);
      const decrypted: string[] = [];
      for (const workflowId of workflowIds) {
        const history = await client.temporal.workflow.getHandle(workflowId).fetchHistory();
        expect(history.events?.length ?? 0, workflowId).toBeGreaterThan(0);
        const { bytes, json } = historyAsStored(history);
        for (const [what, text] of Object.entries(texts)) {
          expect(bytes.includes(text), `${what} in the stored history of ${workflowId}`).toBe(false);
          expect(json.includes(text), `${what} in the JSON history of ${workflowId}`).toBe(false);
        }
        const payloads = historyPayloads(history);
        for (const found of payloads.filter(isOurs)) {
          expect(encoding(found.payload), `${workflowId} ${found.path}`).toBe('binary/encrypted');
        }
        // Search attributes are clear by design: they may say ids, states and agent names only.
        for (const found of payloads.filter(isSearchAttribute)) {
          const value = Buffer.from(found.payload.data ?? []).toString();
          expect(value, `${workflowId} ${found.path}`).toMatch(/^("[\w.@:-]*"|\["[\w.@:", -]*"\]|\[\]|null|\d+)$/);
        }
        for (const { payload } of payloads) {
          const [clear] = await codec.decode([payload]);
          decrypted.push(Buffer.from(clear!.data ?? []).toString());
        }
      }
      // Whoever holds the key reads them all: the scan above looked where they are.
      const all = decrypted.join('\n');
      for (const [what, text] of Object.entries(texts)) expect(all.includes(text), `${what} decrypted`).toBe(true);
    } finally {
      await stack.stop();
    }
  }, 420_000);
});
