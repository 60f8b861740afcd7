/** The `projects` table: a repository tasks and stories work on, with its deploy and validation commands. */
import type { NotifyConfig, Project, QuestionPolicy, ValidationConfig } from '../workflows/types.js';
import type { Db } from './db.js';
import { NotFoundError } from './errors.js';
import { toProject, type ProjectRow } from './rows.js';

export interface NewProject {
  id: string;
  remoteUrl: string;
  defaultBranch: string;
  deployCommand?: string;
  validation?: ValidationConfig;
  notify?: NotifyConfig;
  questionPolicy?: QuestionPolicy;
}

/** Create or update a project (adding the same project twice is a no-op). */
export async function upsertProject(db: Db, project: NewProject): Promise<Project> {
  const { rows } = await db.query<ProjectRow>(
    `insert into projects (id, remote_url, default_branch, deploy_command, validation, notify, question_policy)
     values ($1::text, $2::text, $3::text, $4::text, $5::jsonb, $6::jsonb, $7::jsonb)
     on conflict (id) do update set
       remote_url = excluded.remote_url, default_branch = excluded.default_branch,
       deploy_command = excluded.deploy_command, validation = excluded.validation, notify = excluded.notify,
       question_policy = excluded.question_policy,
       updated_at = case
         when (projects.remote_url, projects.default_branch, projects.deploy_command, projects.validation, projects.notify,
               projects.question_policy)
              is not distinct from (excluded.remote_url, excluded.default_branch, excluded.deploy_command, excluded.validation,
                                    excluded.notify, excluded.question_policy)
         then projects.updated_at else now() end
     returning *`,
    [
      project.id,
      project.remoteUrl,
      project.defaultBranch,
      project.deployCommand ?? null,
      project.validation ? JSON.stringify(project.validation) : null,
      project.notify ? JSON.stringify(project.notify) : null,
      project.questionPolicy ? JSON.stringify(project.questionPolicy) : null,
    ],
  );
  return toProject(rows[0]!);
}

export async function getProject(db: Db, id: string): Promise<Project> {
  const { rows } = await db.query<ProjectRow>('select * from projects where id = $1::text', [id]);
  if (!rows[0]) throw new NotFoundError('project', id);
  return toProject(rows[0]);
}

export async function listProjects(db: Db): Promise<Project[]> {
  const { rows } = await db.query<ProjectRow>('select * from projects order by id');
  return rows.map(toProject);
}
