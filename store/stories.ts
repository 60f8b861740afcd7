/** The `stories` table: a group of tasks on one branch, taken through merge → deploy → validation. */
import { storyStatesLeadingTo } from '../workflows/states.js';
import type { Story, StoryState } from '../workflows/types.js';
import type { Db } from './db.js';
import { ConflictError, IllegalTransitionError, NotFoundError } from './errors.js';
import { toStory, type StoryRow } from './rows.js';

export interface NewStory {
  id: string;
  projectId: string;
  name: string;
  branch: string;
  maxFixAttempts: number;
}

/** Create a story; creating the same story again returns it, a different one under the same id is a conflict. */
export async function createStory(db: Db, story: NewStory): Promise<{ story: Story; created: boolean }> {
  const { rows } = await db.query<StoryRow>(
    `insert into stories (id, project_id, name, branch, max_fix_attempts)
     values ($1::text, $2::text, $3::text, $4::text, $5::int)
     on conflict (id) do nothing returning *`,
    [story.id, story.projectId, story.name, story.branch, story.maxFixAttempts],
  );
  if (rows[0]) return { story: toStory(rows[0]), created: true };
  const existing = await getStory(db, story.id);
  if (existing.projectId !== story.projectId || existing.branch !== story.branch) {
    throw new ConflictError(
      `Story "${story.id}" already exists for project ${existing.projectId} on branch ${existing.branch}`,
    );
  }
  return { story: existing, created: false };
}

export async function getStory(db: Db, id: string): Promise<Story> {
  const { rows } = await db.query<StoryRow>('select * from stories where id = $1::text', [id]);
  if (!rows[0]) throw new NotFoundError('story', id);
  return toStory(rows[0]);
}

export async function listStories(db: Db, filter: { projectId?: string; status?: StoryState } = {}): Promise<Story[]> {
  const { rows } = await db.query<StoryRow>(
    `select * from stories
     where ($1::text is null or project_id = $1::text) and ($2::text is null or status = $2::text)
     order by created_at, id`,
    [filter.projectId ?? null, filter.status ?? null],
  );
  return rows.map(toStory);
}

/** Move a story to `status` (checked against STORY_TRANSITIONS); `detail` replaces the one-line status detail when given. */
export async function updateStoryStatus(
  db: Db,
  id: string,
  status: StoryState,
  detail?: string | null,
): Promise<Story> {
  const { rows } = await db.query<StoryRow>(
    `update stories set status = $2::text,
       detail = case when $3::boolean then $4::text else detail end,
       updated_at = case when status = $2::text and detail is not distinct from
         (case when $3::boolean then $4::text else detail end) then updated_at else now() end
     where id = $1::text and status = any($5::text[])
     returning *`,
    [id, status, detail !== undefined, detail ?? null, storyStatesLeadingTo(status)],
  );
  if (rows[0]) return toStory(rows[0]);
  const current = await getStory(db, id);
  throw new IllegalTransitionError('story', id, current.status, status);
}
