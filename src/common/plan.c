/*
 * plan.c — prepared statements kept for the backend's life.
 *
 * SPI's default plan cache tries five custom plans before settling on a
 * generic one, and keeps re-planning when the generic plan looks costlier;
 * on a hot path of single-row lookups and inserts that planning dominates.
 * Phoenix's statements don't benefit from custom plans, so they are
 * prepared generic from the start.
 */
#include "postgres.h"

#include "nodes/parsenodes.h"

#include "common/plan.h"

SPIPlanPtr
phoenix_prepare_kept(const char *sql, int nargs, Oid *argtypes, const char *what)
{
	SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);

	if (plan == NULL)
		elog(ERROR, "phoenix: preparing %s failed: %s", what, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "phoenix: keeping the plan of %s failed", what);
	return plan;
}
