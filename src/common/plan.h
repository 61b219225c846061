/*
 * plan.h — statements Phoenix prepares once and keeps for the backend's life.
 */
#ifndef PHOENIX_PLAN_H
#define PHOENIX_PLAN_H

#include "postgres.h"

#include "executor/spi.h"

/*
 * Prepare `sql` with a generic plan (never re-planned per call with the
 * parameter values: our statements are index lookups and inserts whose best
 * plan does not depend on them) and keep it (SPI_keepplan).  ERRORs naming
 * `what` if preparation fails.  Must be called inside SPI.
 */
extern SPIPlanPtr phoenix_prepare_kept(const char *sql, int nargs, Oid *argtypes, const char *what);

#endif							/* PHOENIX_PLAN_H */
