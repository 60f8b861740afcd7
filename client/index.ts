/**
 * The claudomator SDK: a typed façade over Temporal (to start and steer workflows) and Postgres (to
 * list and show what they did). The CLI is built on it and on nothing else.
 *
 * Input is validated with the spec schemas of `workflows/specs.ts`; every error is one of the typed
 * errors of `client/errors.ts`, which say what to do next.
 */
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import type { Config } from '../infra/config.js';
import { openStore, resolveDatabase, type ResolvedDatabase } from '../infra/postgres.js';
import type { Store } from '../store/index.js';
import { storyWorkflowId, taskWorkflowId } from '../workflows/definitions.js';
import type { healthCheckWorkflow } from '../workflows/health.js';
import { parseSpec, projectSpecSchema, storySpecSchema, type ProjectSpec, type StorySpec } from '../workflows/specs.js';
import { STORY_STATES, type HealthReport, type Project, type Story, type StoryState } from '../workflows/types.js';
import {
  errorMessage,
  NotFoundError,
  temporalUnavailable,
  toClientError,
  UnavailableError,
  ValidationError,
} from './errors.js';

export * from './errors.js';
export { diagnose, describeConfig, migrateDatabase, setupTemporal } from './admin.js';
export type { DoctorCheck, DoctorReport } from './admin.js';
export type { ProjectSpec, StorySpec } from '../workflows/specs.js';
export type { Project, Story, StoryState } from '../workflows/types.js';

export interface StoryFilter {
  project?: string;
  status?: StoryState;
}

export class ClaudomatorClient {
  constructor(
    readonly temporal: Client,
    readonly store: Store,
    readonly config: Readonly<Config>,
    private readonly database?: ResolvedDatabase,
  ) {}

  /**
   * Open the database the configuration leads to (created and migrated if needed; see
   * infra/postgres.ts) and a Temporal client that connects on first use, so store-only commands work
   * while Temporal is down.
   */
  static async connect(
    config: Readonly<Config>,
    options: { log?: (line: string) => void } = {},
  ): Promise<ClaudomatorClient> {
    const database = await translate(() => resolveDatabase(config, options.log ? { log: options.log } : {}));
    try {
      const store = await translate(() => openStore(database.url));
      const temporal = new Client({
        connection: Connection.lazy(config.temporal.connection),
        namespace: config.temporal.namespace,
      });
      return new ClaudomatorClient(temporal, store, config, database);
    } catch (err) {
      await database.close();
      throw err;
    }
  }

  // ---- Projects -------------------------------------------------------------------------------

  /** Add a project, or update the one with the same id (adding it twice is a no-op). */
  async addProject(spec: ProjectSpec): Promise<Project> {
    return translate(async () => {
      const project = parseSpec(projectSpecSchema, spec, 'project');
      return this.store.upsertProject({
        id: project.id,
        remoteUrl: project.remoteUrl,
        defaultBranch: project.defaultBranch,
        ...(project.deployCommand ? { deployCommand: project.deployCommand } : {}),
        ...(project.validation ? { validation: project.validation } : {}),
      });
    });
  }

  async getProject(id: string): Promise<Project> {
    return translate(() => this.store.getProject(id));
  }

  async listProjects(): Promise<Project[]> {
    return translate(() => this.store.listProjects());
  }

  // ---- Stories --------------------------------------------------------------------------------

  /**
   * Create a story (PENDING) of a project on a branch. Creating the same story again returns it with
   * `created: false`; another story under the same id is a `ConflictError`.
   */
  async createStory(spec: StorySpec): Promise<{ story: Story; created: boolean }> {
    return translate(async () => {
      const story = parseSpec(storySpecSchema, spec, 'story');
      await this.requireProject(story.project, `Stories belong to a project: add "${story.project}" first.`);
      return this.store.createStory({
        id: story.id,
        projectId: story.project,
        name: story.name ?? story.id,
        branch: story.branch,
        maxFixAttempts: story.maxFixAttempts,
      });
    });
  }

  async getStory(id: string): Promise<Story> {
    return translate(() => this.store.getStory(id));
  }

  async listStories(filter: StoryFilter = {}): Promise<Story[]> {
    return translate(async () => {
      if (filter.status !== undefined && !(STORY_STATES as readonly string[]).includes(filter.status)) {
        throw new ValidationError(`Invalid story filter:\n  - status: expected one of ${STORY_STATES.join(', ')}`, [
          { path: 'status', message: `expected one of ${STORY_STATES.join(', ')}` },
        ]);
      }
      if (filter.project !== undefined) await this.requireProject(filter.project);
      return this.store.listStories({
        ...(filter.project !== undefined ? { projectId: filter.project } : {}),
        ...(filter.status !== undefined ? { status: filter.status } : {}),
      });
    });
  }

  // ---- Links and health -----------------------------------------------------------------------

  /** The Web UI page of a workflow. */
  workflowUrl(workflowId: string): string {
    return `${this.config.uiUrl}/namespaces/${encodeURIComponent(this.config.temporal.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  }

  storyUrl(storyId: string): string {
    return this.workflowUrl(storyWorkflowId(storyId));
  }

  taskUrl(taskId: string): string {
    return this.workflowUrl(taskWorkflowId(taskId));
  }

  /** Prove that a worker polls the orchestration queue and reaches its database. */
  async health(timeoutMs = 10_000): Promise<HealthReport> {
    try {
      return await this.temporal.workflow.execute<typeof healthCheckWorkflow>('healthCheckWorkflow', {
        taskQueue: this.config.taskQueue,
        workflowId: `health-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`,
        args: ['ping'],
        workflowExecutionTimeout: timeoutMs,
      });
    } catch (err) {
      if (!(err instanceof WorkflowFailedError)) throw temporalUnavailable(this.config, err);
      throw new UnavailableError(
        'worker',
        `No worker answered on task queue "${this.config.taskQueue}" within ${timeoutMs} ms (${errorMessage(err)}).`,
        'Start one with `claudomator worker` (or the whole local stack with `claudomator up`).',
        { cause: err },
      );
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.temporal.connection.close(), this.store.close()]);
    await this.database?.close();
  }

  private async requireProject(id: string, why?: string): Promise<Project> {
    const project = await this.store.getProject(id).catch((err: unknown) => {
      const translated = toClientError(err);
      if (translated instanceof NotFoundError) {
        throw new NotFoundError(
          'project',
          id,
          `Add it with \`claudomator project add ${id} --repo <url|path>\`, or see \`claudomator project list\`.`,
          `No project "${id}".${why ? ` ${why}` : ''}`,
        );
      }
      throw translated;
    });
    return project;
  }
}

async function translate<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toClientError(err);
  }
}
