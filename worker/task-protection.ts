/**
 * Scale-in protection on Amazon ECS: while an agent host runs agents it asks the ECS agent (the task
 * protection endpoint under ECS_AGENT_URI) to protect its task, and it drops the protection once it
 * is idle. ECS neither scales a protected task in nor replaces it in a deployment, so a multi-hour run
 * is never cut by either — Fargate gives a stopping task at most 120 seconds, far less than a run. The
 * protection expires on its own (refreshed while busy), so a host that dies cannot keep it forever.
 */
import type { Logger } from '@temporalio/worker';

/** The longest protection ECS grants, in minutes (48 hours). */
const MAX_EXPIRY_MINUTES = 2880;

export interface TaskProtection {
  /** Call with the number of agent runs in flight whenever it changes. */
  update(running: number): void;
  /** Stop refreshing (the protection then expires or was dropped already). */
  stop(): Promise<void>;
}

/**
 * Protection for the task behind `agentUri` (ECS_AGENT_URI). `expiryMs` is how long one request
 * protects the task: the run timeout plus a margin, refreshed at half of it while runs go on.
 */
export function ecsTaskProtection(agentUri: string, expiryMs: number, logger: Logger): TaskProtection {
  const expiresInMinutes = Math.min(MAX_EXPIRY_MINUTES, Math.max(1, Math.ceil(expiryMs / 60_000)));
  let protectedNow = false;
  let refresh: NodeJS.Timeout | undefined;
  let queue: Promise<void> = Promise.resolve();

  const put = (enabled: boolean): Promise<void> =>
    fetch(`${agentUri}/task-protection/v1/state`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(
        enabled ? { ProtectionEnabled: true, ExpiresInMinutes: expiresInMinutes } : { ProtectionEnabled: false },
      ),
      signal: AbortSignal.timeout(10_000),
    }).then(
      async (res) => {
        if (!res.ok) throw new Error(`HTTP ${res.status}: ${(await res.text()).slice(0, 300)}`);
        logger.info(enabled ? 'ECS task protected from scale-in' : 'ECS task protection dropped', {
          ...(enabled ? { expiresInMinutes } : {}),
        });
      },
      (err: unknown) => {
        throw err instanceof Error ? err : new Error(String(err));
      },
    );

  // Requests go out one at a time, in order; a failure is logged and retried while still wanted.
  const send = (enabled: boolean): void => {
    queue = queue
      .then(() => put(enabled))
      .catch((err: unknown) => {
        logger.warn('ECS task protection request failed; retrying in 30s', {
          enabled,
          error: err instanceof Error ? err.message : String(err),
        });
        const retry = setTimeout(() => {
          if (protectedNow === enabled) send(enabled);
        }, 30_000);
        retry.unref();
      });
  };

  return {
    update(running) {
      if (running > 0 && !protectedNow) {
        protectedNow = true;
        send(true);
        refresh = setInterval(() => send(true), Math.max(1_000, (expiresInMinutes * 60_000) / 2));
        refresh.unref();
      } else if (running === 0 && protectedNow) {
        protectedNow = false;
        clearInterval(refresh);
        refresh = undefined;
        send(false);
      }
    },
    async stop() {
      clearInterval(refresh);
      refresh = undefined;
      await queue;
    },
  };
}
