/**
 * Answering from the Web UI, in a real browser: headless Chromium (Debian's, driven by playwright-core)
 * on the Web UI of a dev server that `claudomator up`'s code started. It opens a BLOCKED task's
 * workflow page, reads the agent's question in the current details, sends the answer with the UI's
 * own "Send an Update" dialog (update `answer`, JSON input), and sees the task go on to READY.
 *
 * Twice: with payload encryption on (the stack's generated key, its codec server passed to the dev
 * server as --ui-codec-endpoint), where the UI must show the decrypted input and encrypt the answer
 * through the codec server; and with encryption off.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it, onTestFailed } from 'vitest';
import { ClaudomatorClient } from '../../client/index.js';
import { loadConfig } from '../../infra/config.js';
import { freePort } from '../../infra/dev-server.js';
import { startStack, type Stack } from '../../worker/stack.js';
import { taskWorkflowId } from '../../workflows/definitions.js';
import { fakeAgentEnv } from '../helpers/fake-agent.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { uniqueName } from '../helpers/temporal.js';
import { encoding, keyIdOf } from '../infra/helpers/codec.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const QUESTION = 'Which database should I use?';

const db = useTestDatabase();
let browser: Browser | undefined;
let shots: string;
let keepShots = false;
const dirs: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`The Web UI test drives Chromium at ${CHROMIUM}: run bash scripts/install-browser.sh (as root).`);
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  // WEB_UI_SHOTS keeps the screenshots somewhere to look at; else they are kept only when a test fails.
  shots = process.env.WEB_UI_SHOTS ?? (await mkdtemp(path.join(os.tmpdir(), 'claudomator-web-ui-shots-')));
  keepShots = process.env.WEB_UI_SHOTS !== undefined;
});
afterAll(async () => {
  await browser?.close();
  if (keepShots) console.error(`Web UI screenshots kept in ${shots}`);
  else if (shots) await rm(shots, { recursive: true, force: true });
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** The local stack as `claudomator up` runs it, on free ports, with the fake agents. */
async function startUiStack(encryption: 'auto' | 'off'): Promise<{ stack: Stack; client: ClaudomatorClient }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'claudomator-web-ui-'));
  dirs.push(dir);
  const name = uniqueName(`web-ui-${encryption}`);
  const config = loadConfig({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}`,
    TEMPORAL_CLI_PATH: inject('temporalCliPath'),
    DATABASE_URL: db.current.url,
    CLAUDOMATOR_DATA_DIR: path.join(dir, 'data'),
    CLAUDOMATOR_TASK_QUEUE: name,
    CLAUDOMATOR_AGENT_TASK_QUEUE: `${name}-agents`,
    CLAUDOMATOR_POOL_WORKFLOW_ID: `${name}-pool`,
    CLAUDOMATOR_HOST_ID: `${name}-host`,
    CLAUDOMATOR_WORKFLOW_BUNDLE: inject('workflowBundlePath'),
    CLAUDOMATOR_SHUTDOWN_GRACE: '2s',
    CLAUDOMATOR_LOG_LEVEL: 'WARN',
    CLAUDOMATOR_ENCRYPTION: encryption,
    ...fakeAgentEnv(path.join(dir, 'fake-agent-state'), 'success'),
  });
  const stack = await startStack(config, { uiPort: await freePort() });
  const client = await ClaudomatorClient.connect(stack.config).catch(async (err: unknown) => {
    await stack.stop();
    throw err;
  });
  return { stack, client };
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
}

/** The page of a workflow, loaded (the UI long-polls the history, so there is no network idle). */
async function openWorkflow(page: Page, stack: Stack, workflowId: string): Promise<void> {
  await page.goto(`${stack.temporal.uiUrl}/namespaces/${stack.temporal.namespace}/workflows/${workflowId}`, {
    waitUntil: 'domcontentloaded',
  });
  await page.getByText('Workflow Type').first().waitFor({ timeout: 60_000 });
}

/**
 * What the page shows, frames included (the UI renders summaries and details, which are markdown,
 * in sandboxed iframes), once it contains `text`.
 */
async function visibleTextWith(page: Page, text: string, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const parts = await Promise.all(
      page.frames().map((frame) =>
        frame
          .locator('body')
          .innerText({ timeout: 1_000 })
          .catch(() => ''),
      ),
    );
    const shown = parts.join('\n');
    if (shown.includes(text)) return shown;
    if (Date.now() > deadline) throw new Error(`The page never showed "${text}"; it showed:\n${shown}`);
    await page.waitForTimeout(500);
  }
}

/** The JSON of the workflow's Input or Result panel as the UI shows it. */
async function panelText(page: Page, title: 'Input' | 'Result'): Promise<string> {
  return page.getByTestId('input-and-result').getByRole('textbox', { name: title }).innerText();
}

/**
 * (1) open the BLOCKED task's page, (2) read the question in its current details, (3) answer with
 * "Send an Update", (4) see it reach READY. Returns the requests the page made to the codec server.
 */
async function answerInTheUi(label: string, stack: Stack, client: ClaudomatorClient, answer: string) {
  const [task] = await client.submitTasks({
    id: `${label}-${Math.random().toString(36).slice(2, 8)}`,
    name: `asks in the ${label} UI`,
    instructions: 'Set up the database [scenario:question]',
    agent: { type: 'claude' },
  });
  const taskId = task!.id;
  expect(await client.waitForTask(taskId, { timeoutMs: 90_000 })).toMatchObject({
    state: 'BLOCKED',
    question: { text: QUESTION },
  });

  const context = await browser!.newContext({ viewport: { width: 1400, height: 1000 } });
  const codecCalls: string[] = [];
  const codec = stack.temporal.codecEndpoint;
  context.on('request', (request) => {
    if (codec && request.url().startsWith(codec) && request.method() === 'POST')
      codecCalls.push(new URL(request.url()).pathname);
  });
  const page = await context.newPage();
  try {
    // (1) The workflow page of the BLOCKED task; its input as JSON, decrypted when encrypted.
    await openWorkflow(page, stack, taskWorkflowId(taskId));
    await page.getByText(`"${taskId}"`).filter({ visible: true }).first().waitFor({ timeout: 30_000 });
    const input = await panelText(page, 'Input');
    expect(input).toContain(`"taskId": "${taskId}"`);
    expect(input).toContain('"agentTaskQueue"');
    expect(input).not.toContain('binary/encrypted');
    await shot(page, `${label}-1-blocked-task`);

    // (2) The question, in the current details (User Metadata), next to the summary.
    await page.getByTestId('user-metadata-tab').click();
    const metadata = await visibleTextWith(page, QUESTION);
    expect(metadata).toMatch(/BLOCKED\s*—\s*waiting for an answer/);
    expect(metadata).toContain(`asks in the ${label} UI (claude)`);
    await shot(page, `${label}-2-question`);

    // (3) The UI's own update dialog: update `answer`, JSON input.
    await page.getByRole('button', { name: 'More Actions' }).first().click();
    await page.getByRole('menuitem', { name: 'Send an Update' }).click();
    const dialog = page.locator('[role=dialog]:visible, dialog[open]').filter({ hasText: 'Send an Update' }).first();
    await dialog.getByTestId('update-select-button').click();
    await dialog
      .locator('#update-select-select')
      .getByRole('option')
      .filter({ hasText: /^\s*answer/ })
      .click();
    await dialog.getByRole('textbox', { name: 'Data' }).click();
    await page.keyboard.type(JSON.stringify({ answer }));
    await shot(page, `${label}-3-update-dialog`);
    await dialog.getByRole('button', { name: 'Submit' }).click();

    // (4) The session resumes with the answer and the task reaches READY, in the UI and in the SDK.
    const done = await client.waitForTask(taskId, { until: ['READY'], timeoutMs: 90_000 });
    expect(done.state).toBe('READY');
    const details = await client.getTask(taskId);
    expect(details.interactions.map((i) => [i.kind, i.text])).toContainEqual(['answer', answer]);
    await openWorkflow(page, stack, taskWorkflowId(taskId));
    await page
      .getByText(/^completed$/i)
      .first()
      .waitFor({ timeout: 30_000 });
    await page.getByText('"READY"').filter({ visible: true }).first().waitFor({ timeout: 30_000 });
    expect(await panelText(page, 'Result')).toContain('"state": "READY"');
    await shot(page, `${label}-4-ready`);
  } catch (err) {
    await shot(page, `${label}-failed`).catch(() => undefined);
    throw err;
  } finally {
    await context.close();
  }

  // What the answer looks like in the history: the update's input as the UI sent it.
  const history = await client.temporal.workflow.getHandle(taskWorkflowId(taskId)).fetchHistory();
  const accepted = history.events!.find(
    (e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name === 'answer',
  )!.workflowExecutionUpdateAcceptedEventAttributes!.acceptedRequest!;
  return { codecCalls, answerPayload: accepted.input!.args!.payloads![0]!, identity: accepted.meta?.identity };
}

describe('the Web UI', () => {
  it('answers a BLOCKED task with encryption on: decrypted through the codec server, the answer encrypted', async () => {
    onTestFailed(() => {
      keepShots = true;
    });
    const { stack, client } = await startUiStack('auto');
    try {
      expect(stack.temporal.codecEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const answer = 'postgres, answered in the Web UI';
      const seen = await answerInTheUi('encrypted', stack, client, answer);
      // The UI decrypted what it showed and encrypted what it sent, through the codec server.
      expect(seen.codecCalls).toContain('/decode');
      expect(seen.codecCalls).toContain('/encode');
      expect(encoding(seen.answerPayload)).toBe('binary/encrypted');
      expect(keyIdOf(seen.answerPayload)).toBe(stack.config.encryption.keys[0]!.id);
      expect(Buffer.from(seen.answerPayload.data ?? []).toString('latin1')).not.toContain(answer);
    } finally {
      await client.close();
      await stack.stop();
    }
  }, 240_000);

  it('answers a BLOCKED task with encryption off', async () => {
    onTestFailed(() => {
      keepShots = true;
    });
    const { stack, client } = await startUiStack('off');
    try {
      expect(stack.temporal.codecEndpoint).toBeUndefined();
      const answer = 'sqlite, answered in the Web UI';
      const seen = await answerInTheUi('clear', stack, client, answer);
      expect(seen.codecCalls).toEqual([]);
      expect(encoding(seen.answerPayload)).toBe('json/plain');
      expect(JSON.parse(Buffer.from(seen.answerPayload.data ?? []).toString())).toEqual({ answer });
    } finally {
      await client.close();
      await stack.stop();
    }
  }, 240_000);
});
