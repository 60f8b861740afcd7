/**
 * Dependency graphs of tasks: cycle detection with the path of the cycle, and a dependency-first
 * order. Pure functions, used by the SDK before anything is written or started.
 */

export interface DependencyEdge {
  taskId: string;
  dependsOn: string;
}

/**
 * The first cycle found, as a path that starts and ends at the same task (`['a', 'b', 'c', 'a']`
 * means a depends on b, b on c, c on a), or undefined when the graph has none.
 */
export function findCycle(edges: readonly DependencyEdge[]): string[] | undefined {
  const next = new Map<string, string[]>();
  for (const { taskId, dependsOn } of edges) {
    const list = next.get(taskId) ?? [];
    list.push(dependsOn);
    next.set(taskId, list);
  }
  const done = new Set<string>();
  const onPath = new Map<string, number>();
  const path: string[] = [];

  const visit = (node: string): string[] | undefined => {
    if (done.has(node)) return undefined;
    const index = onPath.get(node);
    if (index !== undefined) return [...path.slice(index), node];
    onPath.set(node, path.length);
    path.push(node);
    for (const dep of [...(next.get(node) ?? [])].sort()) {
      const cycle = visit(dep);
      if (cycle) return cycle;
    }
    path.pop();
    onPath.delete(node);
    done.add(node);
    return undefined;
  };

  for (const node of [...next.keys()].sort()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}

/** `ids` ordered so that every task comes after the tasks it depends on (among `ids`); assumes no cycle. */
export function dependencyOrder(ids: readonly string[], edges: readonly DependencyEdge[]): string[] {
  const wanted = new Set(ids);
  const deps = new Map<string, string[]>();
  for (const { taskId, dependsOn } of edges) {
    if (wanted.has(taskId) && wanted.has(dependsOn)) deps.set(taskId, [...(deps.get(taskId) ?? []), dependsOn]);
  }
  const out: string[] = [];
  const seen = new Set<string>();
  const visit = (id: string): void => {
    if (seen.has(id)) return;
    seen.add(id);
    for (const dep of deps.get(id) ?? []) visit(dep);
    out.push(id);
  };
  for (const id of ids) visit(id);
  return out;
}
