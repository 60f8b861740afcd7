import { describe, expect, it } from 'vitest';
import { dependencyOrder, findCycle } from '../../workflows/dag.js';

const edges = (pairs: Array<[string, string]>) => pairs.map(([taskId, dependsOn]) => ({ taskId, dependsOn }));

describe('findCycle', () => {
  it('finds none in chains, diamonds and fan-in', () => {
    expect(
      findCycle(
        edges([
          ['b', 'a'],
          ['c', 'b'],
        ]),
      ),
    ).toBeUndefined();
    expect(
      findCycle(
        edges([
          ['b', 'a'],
          ['c', 'a'],
          ['d', 'b'],
          ['d', 'c'],
        ]),
      ),
    ).toBeUndefined();
    expect(findCycle([])).toBeUndefined();
  });

  it('returns the path of the cycle, closed at both ends', () => {
    expect(
      findCycle(
        edges([
          ['a', 'b'],
          ['b', 'c'],
          ['c', 'a'],
        ]),
      ),
    ).toEqual(['a', 'b', 'c', 'a']);
    expect(
      findCycle(
        edges([
          ['x', 'y'],
          ['y', 'z'],
          ['z', 'y'],
        ]),
      ),
    ).toEqual(['y', 'z', 'y']);
  });
});

describe('dependencyOrder', () => {
  it('puts dependencies first and ignores edges to tasks outside the set', () => {
    const order = dependencyOrder(
      ['d', 'c', 'b', 'a'],
      edges([
        ['b', 'a'],
        ['c', 'a'],
        ['d', 'b'],
        ['d', 'c'],
        ['a', 'old'],
      ]),
    );
    expect(order.indexOf('a')).toBeLessThan(order.indexOf('b'));
    expect(order.indexOf('b')).toBeLessThan(order.indexOf('d'));
    expect(order.indexOf('c')).toBeLessThan(order.indexOf('d'));
    expect(order).toHaveLength(4);
  });
});
