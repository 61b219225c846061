/*
 * bigquery.c — phoenix.check_bigquery(schema): every column that BigQuery's
 * PostgreSQL federation (EXTERNAL_QUERY) could not read, with the reason and
 * a cast that makes it readable.
 *
 * The mapping follows BigQuery's documented EXTERNAL_QUERY type mapping for
 * PostgreSQL (README.md, "BigQuery"): booleans, integers, floats, numeric
 * (as NUMERIC: 38 digits, 9 after the point, unless the query option
 * default_type_for_decimal_columns says otherwise), character types, bytea,
 * date, time, timestamp and timestamptz.  Everything else — json/jsonb, uuid,
 * interval, money, timetz, network, geometric and text-search types, ranges,
 * multiranges, arrays, composites, enums, other user-defined base types, and
 * domains over any of them — is reported.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/tuplestore.h"

#include "export/bigquery.h"
#include "common/phoenix.h"

/* BigQuery NUMERIC: precision 38, scale 9, hence 29 integer digits. */
#define BQ_NUMERIC_SCALE			9
#define BQ_NUMERIC_INTEGER_DIGITS	29

#define CAST_TEXT		"%s::text AS %s"

PG_FUNCTION_INFO_V1(phoenix_check_bigquery);

static const char *bigquery_base_type(Oid typid, int32 typmod, BigQueryProblem *problem);
static const char *bigquery_numeric(int32 typmod, BigQueryProblem *problem);
static void set_problem(BigQueryProblem *problem, const char *reason, const char *cast);

/*
 * SQL: phoenix.check_bigquery(schema name DEFAULT 'reporting')
 *   RETURNS TABLE(table_name text, column_name text, data_type text,
 *                 reason text, suggested_cast text)
 * Tables, partitioned tables (not their partitions), views, materialized
 * views and foreign tables of the schema, in name and column order.  One
 * catalog query; the judging is done here, per column type.
 */
Datum
phoenix_check_bigquery(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *schema = NameStr(*PG_GETARG_NAME(0));
	Oid			nsp;
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1];
	uint64		i;
	int			rc;

	nsp = get_namespace_oid(schema, true);
	if (!OidIsValid(nsp))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_SCHEMA),
				 errmsg("schema \"%s\" does not exist", schema),
				 errhint("Projections land in schema \"reporting\" unless created with another schema.")));

	InitMaterializedSRF(fcinfo, 0);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	args[0] = ObjectIdGetDatum(nsp);
	rc = SPI_execute_with_args(
							   "SELECT c.relname::text, a.attname::text, a.atttypid, a.atttypmod"
							   "  FROM pg_catalog.pg_class c"
							   "  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid"
							   " WHERE c.relnamespace = $1"
							   "   AND c.relkind IN ('r', 'p', 'v', 'm', 'f')"
							   "   AND NOT c.relispartition"
							   "   AND a.attnum > 0 AND NOT a.attisdropped"
							   " ORDER BY c.relname, a.attnum",
							   1, argtypes, args, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "catalog query failed: %s", SPI_result_code_string(rc));

	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Oid			typid = DatumGetObjectId(SPI_getbinval(tup, desc, 3, &isnull));
		int32		typmod = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
		BigQueryProblem problem;
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};
		const char *column;

		bigquery_type(typid, typmod, &problem);
		if (problem.reason == NULL)
			continue;
		column = quote_identifier(SPI_getvalue(tup, desc, 2));
		values[0] = CStringGetTextDatum(SPI_getvalue(tup, desc, 1));
		values[1] = CStringGetTextDatum(SPI_getvalue(tup, desc, 2));
		values[2] = CStringGetTextDatum(format_type_with_typemod(typid, typmod));
		values[3] = CStringGetTextDatum(problem.reason);
		values[4] = CStringGetTextDatum(psprintf(problem.cast, column, column));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}

/*
 * The BigQuery type a column of (typid, typmod) arrives as.  Domains are
 * judged by their base type, and say so in the reason.
 */
const char *
bigquery_type(Oid typid, int32 typmod, BigQueryProblem *problem)
{
	const char *result;

	set_problem(problem, NULL, NULL);
	if (get_typtype(typid) == TYPTYPE_DOMAIN)
	{
		int32		basemod = typmod;
		Oid			base = getBaseTypeAndTypmod(typid, &basemod);

		result = bigquery_type(base, basemod, problem);
		if (problem->reason != NULL)
			problem->reason = psprintf("domain over %s: %s",
									   format_type_with_typemod(base, basemod),
									   problem->reason);
		return result;
	}
	if (type_is_array(typid))
	{
		set_problem(problem, "arrays are not in BigQuery's PostgreSQL type mapping",
					"array_to_json(%s)::text AS %s");
		return "STRING";
	}
	switch (get_typtype(typid))
	{
		case TYPTYPE_COMPOSITE:
			set_problem(problem, "composite types are not in BigQuery's PostgreSQL type mapping",
						"to_json(%s)::text AS %s");
			return "STRING";
		case TYPTYPE_RANGE:
			set_problem(problem, "ranges are not in BigQuery's PostgreSQL type mapping (select lower() and upper() as two columns, or the text form)",
						CAST_TEXT);
			return "STRING";
		case TYPTYPE_MULTIRANGE:
			set_problem(problem, "multiranges are not in BigQuery's PostgreSQL type mapping", CAST_TEXT);
			return "STRING";
		case TYPTYPE_ENUM:
			set_problem(problem, "enum types are user-defined and not in BigQuery's PostgreSQL type mapping",
						CAST_TEXT);
			return "STRING";
		case TYPTYPE_BASE:
			return bigquery_base_type(typid, typmod, problem);
		default:
			set_problem(problem, "pseudo-types cannot be read by BigQuery", CAST_TEXT);
			return "STRING";
	}
}

/* Built-in and user-defined base types. */
static const char *
bigquery_base_type(Oid typid, int32 typmod, BigQueryProblem *problem)
{
	switch (typid)
	{
		case BOOLOID:
			return "BOOL";
		case INT2OID:
		case INT4OID:
		case INT8OID:
			return "INT64";
		case FLOAT4OID:
		case FLOAT8OID:
			return "FLOAT64";
		case NUMERICOID:
			return bigquery_numeric(typmod, problem);
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			return "STRING";
		case BYTEAOID:
			return "BYTES";
		case DATEOID:
			return "DATE";
		case TIMEOID:
			return "TIME";
		case TIMESTAMPOID:
			return "DATETIME";
		case TIMESTAMPTZOID:
			return "TIMESTAMP";
		case JSONOID:
		case JSONBOID:
			set_problem(problem, "json and jsonb are not in BigQuery's PostgreSQL type mapping (payloads belong in the event log, not in reporting tables)",
						CAST_TEXT);
			break;
		case UUIDOID:
			set_problem(problem, "uuid is not in BigQuery's PostgreSQL type mapping", CAST_TEXT);
			break;
		case INTERVALOID:
			set_problem(problem, "interval is not in BigQuery's PostgreSQL type mapping (seconds as FLOAT64 are)",
						"extract(epoch FROM %s)::float8 AS %s");
			return "FLOAT64";
		case MONEYOID:
			set_problem(problem, "money is not in BigQuery's PostgreSQL type mapping", "%s::numeric AS %s");
			return "NUMERIC";
		case TIMETZOID:
			set_problem(problem, "time with time zone is not in BigQuery's PostgreSQL type mapping",
						"(%s AT TIME ZONE 'UTC')::time AS %s");
			return "TIME";
		case INETOID:
		case CIDROID:
		case MACADDROID:
		case MACADDR8OID:
			set_problem(problem, "network address types are not in BigQuery's PostgreSQL type mapping", CAST_TEXT);
			break;
		case POINTOID:
		case LSEGOID:
		case PATHOID:
		case BOXOID:
		case POLYGONOID:
		case LINEOID:
		case CIRCLEOID:
			set_problem(problem, "geometric types are not in BigQuery's PostgreSQL type mapping", CAST_TEXT);
			break;
		case TSVECTOROID:
		case TSQUERYOID:
			set_problem(problem, "text-search types are not in BigQuery's PostgreSQL type mapping", CAST_TEXT);
			break;
		default:
			set_problem(problem, psprintf("type %s is not in BigQuery's PostgreSQL type mapping",
										  format_type_be(typid)),
						CAST_TEXT);
			break;
	}
	return "STRING";
}

/*
 * numeric arrives as BigQuery NUMERIC (29 integer and 9 fractional digits).
 * A declared precision or scale beyond that cannot arrive intact; an
 * unconstrained numeric is accepted (its values are the writer's business,
 * and the EXTERNAL_QUERY option default_type_for_decimal_columns widens it).
 */
static const char *
bigquery_numeric(int32 typmod, BigQueryProblem *problem)
{
	int32		precision;
	int32		scale;

	if (typmod < (int32) VARHDRSZ)
		return "NUMERIC";
	precision = ((typmod - VARHDRSZ) >> 16) & 0xffff;
	scale = (((typmod - VARHDRSZ) & 0x7ff) ^ 1024) - 1024;
	if (precision - scale > BQ_NUMERIC_INTEGER_DIGITS)
		set_problem(problem, "more than 29 integer digits do not fit BigQuery NUMERIC (use the EXTERNAL_QUERY option default_type_for_decimal_columns = bignumeric, or text)",
					CAST_TEXT);
	else if (scale > BQ_NUMERIC_SCALE)
		set_problem(problem, "more than 9 fractional digits do not fit BigQuery NUMERIC",
					"round(%s, 9) AS %s");
	return precision - scale > BQ_NUMERIC_INTEGER_DIGITS ? "STRING" : "NUMERIC";
}

static void
set_problem(BigQueryProblem *problem, const char *reason, const char *cast)
{
	problem->reason = reason;
	problem->cast = cast;
}
