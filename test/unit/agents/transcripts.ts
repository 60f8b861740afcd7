/** Read a recorded event fixture through an adapter, as the runner does line by line. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  type AgentAdapter,
  readLine,
  emptyTranscript,
  settleTranscript,
  type ExitInfo,
  type Transcript,
} from '../../../agents/adapter.js';

export function fixture(agent: string, name: string): string {
  return readFileSync(fileURLToPath(new URL(`../../fixtures/${agent}/${name}.jsonl`, import.meta.url)), 'utf8');
}

/** The transcript of a fixture read as the runner reads it, and the whole text as the stdout tail. */
export function transcriptOf(adapter: AgentAdapter, name: string): { t: Transcript; stdoutTail: string } {
  const text = fixture(adapter.type, name);
  const t = emptyTranscript();
  for (const line of text.split('\n')) if (line.startsWith('{')) readLine(adapter, t, Buffer.from(line));
  return { t: settleTranscript(adapter, t), stdoutTail: text };
}

export function exitInfo(exitCode: number | undefined, stderrTail = '', stdoutTail = '', signal?: string): ExitInfo {
  return { exitCode, signal, stderrTail, stdoutTail };
}

/** 2026-11-28T10:00:00Z */
export const NOW = Date.UTC(2026, 10, 28, 10, 0, 0);
