/*
 * phoenix.h — definitions shared by every Phoenix source file: SQLSTATEs of
 * our domain errors and the names of our schemas.
 */
#ifndef PHOENIX_H
#define PHOENIX_H

#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/elog.h"
#include "utils/jsonb.h"

/* Schema names (the public contract: see docs/design.md and README.md). */
#define PHOENIX_SCHEMA			"phoenix"
#define PHOENIX_ENTITY_SCHEMA	"phoenix_entity"

/*
 * Phoenix's own SQLSTATEs, class "PX" (user-defined classes must not start
 * with 0-4 or A-H).  Common mistakes use PostgreSQL's standard codes
 * (undefined_object, invalid_parameter_value, ...); these are for failures
 * that only Phoenix can have.
 */
#define ERRCODE_PHOENIX_SCHEMA_VIOLATION		MAKE_SQLSTATE('P','X','0','0','1')
#define ERRCODE_PHOENIX_INCOMPATIBLE_SCHEMA		MAKE_SQLSTATE('P','X','0','0','2')
#define ERRCODE_PHOENIX_OWNERSHIP_CONFLICT		MAKE_SQLSTATE('P','X','0','0','3')
#define ERRCODE_PHOENIX_TEMPORAL_CONFLICT		MAKE_SQLSTATE('P','X','0','0','4')
#define ERRCODE_PHOENIX_IDEMPOTENCY_CONFLICT	MAKE_SQLSTATE('P','X','0','0','5')
#define ERRCODE_PHOENIX_FORGOTTEN				MAKE_SQLSTATE('P','X','0','0','6')
#define ERRCODE_PHOENIX_KAFKA					MAKE_SQLSTATE('P','X','0','0','7')

/* Text argument `argno` of a SQL-callable function as a C string; NULL for SQL NULL. */
static inline char *
phx_text_arg(FunctionCallInfo fcinfo, int argno)
{
	return PG_ARGISNULL(argno) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/* Jsonb argument `argno` of a SQL-callable function; NULL for SQL NULL. */
static inline Jsonb *
phx_jsonb_arg(FunctionCallInfo fcinfo, int argno)
{
	return PG_ARGISNULL(argno) ? NULL : PG_GETARG_JSONB_P(argno);
}

#endif							/* PHOENIX_H */
