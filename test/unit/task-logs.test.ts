import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { LogRenderer } from '../../client/logs.js';

/** Render a recorded stream the way `task logs` does: line by line, then what the end flushes. */
function render(agent: string | undefined, text: string, raw = false): string[] {
  const renderer = new LogRenderer(agent, raw);
  const lines = text.split('\n').flatMap((line) => renderer.line(line));
  return [...lines, ...renderer.end()].map((r) => r.text);
}

const recorded = (agent: string, name: string): string =>
  readFileSync(fileURLToPath(new URL(`../fixtures/${agent}/${name}.jsonl`, import.meta.url)), 'utf8');

describe('task logs: rendering agent streams through their adapters', () => {
  it('claude: session once, text, tool calls with their input, the result with cost and turns', () => {
    expect(render('claude', recorded('claude', 'success'))).toEqual([
      'session: 6f1c2a4e-8f7b-4c1d-9e2a-3b4c5d6e7f80 (claude-opus-4-8[1m])',
      "assistant: I'll add the feature file.",
      'tool Write: /sandbox/feature.txt',
      'assistant: Added feature.txt with three lines.',
      'result: success $0.0003 (2 turns)',
    ]);
  });

  it('claude: an API error shows the retry and why the run failed', () => {
    const lines = render('claude', recorded('claude', 'rate_limit'));
    expect(lines).toContain('retry: API error 429, waiting 3s (attempt 1)');
    expect(lines.at(-1)).toMatch(/^result: failed: API Error: Request rejected \(429\)/);
  });

  it('gemini: streamed pieces are joined into one message', () => {
    expect(render('gemini', recorded('gemini', 'success'))).toEqual([
      'session: b3c5d7e9-1f2a-4b4c-8d6e-7f8091a2b3c4 (auto)',
      "assistant: I'll add the feature file.",
      'tool write_file: feature.txt',
      'assistant: Added feature.txt with three lines.',
      'result: success',
    ]);
  });

  it('codex: commands, changed files, non-fatal errors and the failed turn', () => {
    expect(render('codex', recorded('codex', 'success'))).toEqual([
      'session: 01a241e4-da66-7c53-9872-3e411f07dc9a',
      'assistant: Looking around first.',
      `tool command_execution: /bin/bash -lc "printf 'more\\\\n' >> README.md && ls"`,
      'files changed: /sandbox/feature.txt',
      'assistant: Added feature.txt with three lines.',
      'result: success',
    ]);
    const failed = render('codex', recorded('codex', 'rate_limit'));
    expect(failed).toContain('error: exceeded retry limit, last status: 429 Too Many Requests');
    expect(failed.at(-1)).toBe(
      'result: failed (turn.failed): exceeded retry limit, last status: 429 Too Many Requests',
    );
  });

  it('the command agent, and lines that are not events, are shown as they are', () => {
    expect(render('command', 'building\n{"type":"assistant"}\n\nok\n')).toEqual([
      'building',
      '{"type":"assistant"}',
      'ok',
    ]);
    expect(render('claude', 'Warning: banner\n{"type": broken\n')).toEqual(['Warning: banner', '{"type": broken']);
  });

  it('raw: every line as written', () => {
    const text = recorded('claude', 'question');
    expect(render('claude', text, true)).toEqual(text.split('\n'));
  });
});
