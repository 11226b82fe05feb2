/**
 * What row authorization refuses at join time (ROW_AUTHORIZATION=postgres): a JWT `role` that is
 * not a PostgreSQL role, and a filter or `select` naming a column the role may not read. Wording
 * follows the original server's `system` errors for bindings it cannot serve.
 */
import type { Identity } from './identity';
import type { TableAccessCatalog } from './table-access';

/** A binding or legacy topic as the checks see it. */
export interface JoinTarget {
  schema: string;
  /** `*`: any table of the schema (columns are then checked per change). */
  table: string;
  /** Columns its filter and `select` name. */
  columns: readonly string[];
}

const unable = (why: string): string => `Unable to subscribe to changes with given parameters: ${why}`;

/** Per target: why `identity` cannot subscribe to it, or null. Rejects when the database cannot answer. */
export async function joinProblems(
  catalog: TableAccessCatalog,
  identity: Identity,
  targets: readonly JoinTarget[],
): Promise<Array<string | null>> {
  if (targets.length === 0) return [];
  if (!(await catalog.roleExists(identity.role))) {
    const problem = unable(
      `the JWT role ${JSON.stringify(identity.role)} is not a PostgreSQL role (ROW_AUTHORIZATION=postgres)`,
    );
    return targets.map(() => problem);
  }
  return Promise.all(
    targets.map(async (target) => {
      if (target.schema === '*' || target.table === '*') return null;
      // Loaded even with no column to check: the first change then needs no catalog round trip.
      const access = await catalog.get(target.schema, target.table, identity.role);
      if (!access) return null; // not a table (yet): nothing to check; changes are checked as they come
      const hidden = target.columns.find((c) => !access.selectable.has(c));
      return hidden === undefined
        ? null
        : unable(
            `column ${JSON.stringify(hidden)} of ${target.schema}.${target.table} is not readable by role ${JSON.stringify(identity.role)}`,
          );
    }),
  );
}
