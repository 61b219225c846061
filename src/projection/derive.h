/*
 * derive.h — what a derived column may compute.
 *
 * Derived columns are written by admins and evaluated by emit, the cascade
 * and rebuilds, which run as the extension owner.  So an expression may only
 * use immutable built-in functions and operators over the row's columns:
 * nothing that reads relations, settings or files, nothing of another
 * schema, no domain (whose checks are SQL).  The check runs on the analysed
 * expression when the projection is created, and again each time a backend
 * compiles it (derive_check_projection before its row SQL is planned, and on
 * the planned expression of the row computation in C).
 */
#ifndef PHOENIX_DERIVE_H
#define PHOENIX_DERIVE_H

#include "postgres.h"

#include "nodes/nodes.h"

/* ERROR (42501, with a hint) unless expr is allowed; names say where it is. */
extern void derive_check_expr(Node *expr, const char *column, const char *projection);

/*
 * Parse each derived expression of a stored projection over its table's row,
 * with name lookups pinned to pg_catalog, and check it.  table is the
 * quoted, qualified reporting table.
 */
extern void derive_check_stored(const char *projection, const char *table, int n,
								char **names, char **exprs);

#endif							/* PHOENIX_DERIVE_H */
