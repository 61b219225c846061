/*
 * bigquery.h — what BigQuery's PostgreSQL federation (EXTERNAL_QUERY) can
 * read, shared by check_bigquery and the exporter.
 */
#ifndef PHOENIX_BIGQUERY_H
#define PHOENIX_BIGQUERY_H

#include "postgres.h"

/* Why BigQuery cannot read a column of this type, and how to cast it. */
typedef struct BigQueryProblem
{
	const char *reason;			/* NULL when the type is readable */
	const char *cast;			/* printf format with two %s: column, column */
} BigQueryProblem;

/*
 * Judge a column type (domains are looked through).  Returns the BigQuery
 * type name the column maps to ("INT64", "TIMESTAMP", ...), and fills
 * *problem when BigQuery cannot read it (then the result is "STRING", the
 * type of the suggested cast).
 */
extern const char *bigquery_type(Oid typid, int32 typmod, BigQueryProblem *problem);

#endif							/* PHOENIX_BIGQUERY_H */
