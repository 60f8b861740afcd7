import { describe, expect, it } from 'vitest';
import { classify } from '../../activities/classify.js';

describe('classify', () => {
  it('gives light chores the small model and design work the large one', () => {
    expect(classify('claude', 'Fix typo in README', 'teh → the')).toMatchObject({ model: 'haiku' });
    expect(classify('claude', 'Redesign the cache', 'make it sharded')).toMatchObject({ model: 'opus' });
    expect(classify('gemini', 'Improve performance', 'the hot loop')).toMatchObject({ model: 'pro' });
  });

  it('leaves standard tasks and agents without tiers on their default', () => {
    expect(classify('claude', 'Add a flag', 'add --verbose').model).toBeUndefined();
    expect(classify('command', 'Rename things', 'x').model).toBeUndefined();
    expect(classify('codex', 'Redesign', 'x').model).toBeUndefined();
  });
});
