/**
 * Signals that do what an update of the same name does (`answer` on a task, `acknowledgeAgent` on the
 * pool), for callers that can only signal: the Web UI's "Send a Signal" dialog, `temporal workflow
 * signal`, another workflow. The signal runs the update's validator and then its handler. A signal has
 * no reply, so one the validator refuses is not dropped: it is written to Postgres (`rejected_signals`,
 * by the activity the workflow passes in), logged, and listed under "Rejected signals" in the workflow's
 * current details; the workflow itself goes on as if the signal had not come.
 *
 * The workflow shows its details through `setDetails`, so the list stays under whatever it shows.
 */
import { log, patched, setCurrentDetails, workflowInfo, type SignalDefinition } from '@temporalio/workflow';
import { toError } from './assert.js';
import type { RejectedSignal } from './types.js';

/** How many of the latest refusals the current details list. */
export const SHOWN_REJECTED_SIGNALS = 5;
const INPUT_SHOWN_CHARS = 120;

export class ValidatedSignals {
  private details = '';
  private readonly latest: RejectedSignal[] = [];
  private rejectedCount = 0;

  constructor(
    private readonly options: {
      /** Set on a task workflow: the rows then belong to the task. */
      taskId?: string;
      /** Write the refusal to Postgres (an activity); a failure is logged, the workflow goes on. */
      record: (rejected: RejectedSignal) => Promise<void>;
    },
  ) {}

  /** Show `details` as the workflow's current details, with the latest rejected signals under them. */
  setDetails(details: string): void {
    this.details = details;
    setCurrentDetails(this.render());
  }

  /**
   * The handler for `signal`: `validate` (the update's validator) and, if it does not throw, `handle`
   * (the update's handler). Behind the patch `patch`: replaying a history from before the signal had a
   * handler, the signal is ignored, as that code ignored it.
   */
  handler<A>(
    signal: SignalDefinition<[A]>,
    patch: string,
    validate: (input: A) => void,
    handle: (input: A) => unknown,
  ): (input: A) => Promise<void> {
    return async (input: A) => {
      if (!patched(patch)) return;
      try {
        validate(input);
      } catch (err) {
        await this.reject(signal.name, input, toError(err).message);
        return;
      }
      handle(input);
    };
  }

  private async reject(signal: string, input: unknown, reason: string): Promise<void> {
    const { workflowId, runId } = workflowInfo();
    const rejected: RejectedSignal = {
      id: `${workflowId}/${runId}/rejected-${++this.rejectedCount}`,
      workflowId,
      ...(this.options.taskId ? { taskId: this.options.taskId } : {}),
      signal,
      input: input ?? null,
      reason,
      at: new Date().toISOString(),
    };
    this.latest.push(rejected);
    if (this.latest.length > SHOWN_REJECTED_SIGNALS) this.latest.shift();
    log.warn('Signal rejected', { signal, reason, input });
    setCurrentDetails(this.render());
    try {
      await this.options.record(rejected);
    } catch (err) {
      log.error('Rejected signal not recorded in Postgres; it stays in the current details', {
        id: rejected.id,
        error: toError(err).message,
      });
    }
  }

  private render(): string {
    if (this.latest.length === 0) return this.details;
    const lines = [
      `**Rejected signals** (the last ${this.latest.length} of ${this.rejectedCount} in this run; all are in Postgres, table \`rejected_signals\`):`,
      ...this.latest.map((r) => {
        const input = JSON.stringify(r.input);
        const shown = input.length > INPUT_SHOWN_CHARS ? `${input.slice(0, INPUT_SHOWN_CHARS)}…` : input;
        return `- ${r.at} \`${r.signal}\` \`${shown.replace(/`/g, "'")}\`: ${r.reason}`;
      }),
    ];
    return `${this.details}${this.details ? '\n\n' : ''}${lines.join('\n')}`;
  }
}
