/*
 * export.c — phoenix.export(projection, directory, format): the rows of a
 * reporting table changed since the last successful export, in a BigQuery
 * load format, written atomically, with a manifest.
 *
 * An export covers the change numbers (cursor, watermark]: the cursor is the
 * watermark of the previous successful export of the same projection to the
 * same directory and format (phoenix.export_cursors, row-locked so exports of
 * one target never overlap), and the watermark is phoenix.safe_change_seq()
 * taken before a fresh snapshot, so a row whose transaction commits late is
 * never skipped: it either is below the watermark and visible, or above it
 * and left for the next export.
 *
 * Files appear atomically: rows are written to a hidden temporary file,
 * fsync'ed, renamed into place (durable_rename), and only then is the
 * manifest written the same way.  If the transaction aborts afterwards the
 * files are removed again, so a visible manifest always describes a committed
 * export; a crash before the rename leaves only a hidden temporary file,
 * and one after it (before the commit) a data file without its manifest;
 * the next export of the same target removes both and covers their rows.
 *
 * Formats (what `bq load` parses): NDJSON, one object per row, or CSV with a
 * header row (RFC 4180 quoting; strings and bytes always quoted, so that
 * NULL, an empty unquoted field, differs from an empty string).  timestamptz as RFC 3339 UTC ("2026-11-24T09:00:00Z"),
 * timestamp as a civil DATETIME, bytea as base64, non-finite floats as
 * "NaN"/"Infinity"/"-Infinity", infinite dates and timestamps clamped to
 * BigQuery's range (0001-01-01 .. 9999-12-31).
 */
#include "postgres.h"

#include <fcntl.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "common/base64.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "export/bigquery.h"
#include "common/changeseq.h"
#include "export/export.h"
#include "common/phoenix.h"
#include "projection/projection.h"

#define EXPORT_BATCH		1000	/* rows fetched per cursor round trip */
#define EXPORT_FLUSH_AT		65536	/* bytes buffered before a write() */

/* How a column's values are written. */
typedef enum ExportKind
{
	EK_BOOL,
	EK_NUMBER,					/* integers, numeric: bare in JSON and CSV */
	EK_FLOAT,					/* like numbers, except NaN and infinities */
	EK_TIMESTAMPTZ,
	EK_TIMESTAMP,
	EK_DATE,
	EK_TIME,
	EK_BYTEA,
	EK_TEXT						/* anything else, by its output function */
} ExportKind;

typedef struct ExportColumn
{
	char	   *name;
	Oid			typid;			/* base type (domains looked through) */
	ExportKind	kind;
	const char *bqtype;
	FmgrInfo	out;
} ExportColumn;

/* One file being written. */
typedef struct ExportFile
{
	char	   *tmp_path;
	char	   *path;
	int			fd;
	StringInfoData buf;
	pg_cryptohash_ctx *sha;
} ExportFile;

/* Files created by this transaction, removed if it aborts. */
static List *created_files = NIL;

PG_FUNCTION_INFO_V1(phoenix_export);

static void export_check_privileges(void);
static const char *export_check_format(const char *format);
static char *export_check_directory(const char *directory);
static Oid	export_relation(const char *projection);
static int64 export_lock_cursor(const char *projection, const char *directory, const char *format);
static void export_save_cursor(const char *projection, const char *directory, const char *format,
							   int64 watermark, const char *file, int64 rows);
static ExportColumn *export_columns(TupleDesc desc);
static void export_header_csv(ExportFile *f, ExportColumn *cols, int ncols);
static void export_row(ExportFile *f, bool csv, ExportColumn *cols, int ncols,
					   HeapTuple tuple, TupleDesc desc);
static void export_value(StringInfo buf, bool csv, ExportColumn *col, Datum value);
static void append_timestamp(StringInfo buf, Timestamp ts, bool utc);
static void append_fraction(StringInfo buf, int usec);
static void append_quoted_csv(StringInfo buf, const char *s);
static void file_open(ExportFile *f, const char *dir, const char *name);
static void file_flush(ExportFile *f);
static char *file_commit(ExportFile *f);
static void remember_file(const char *path);
static void remove_stale_files(const char *dir, const char *projection, const char *format,
							   int64 cursor);
static void export_xact_callback(XactEvent event, void *arg);

/*
 * SQL: phoenix.export(projection text, directory text, format text DEFAULT 'ndjson')
 *   RETURNS TABLE(file text, manifest text, rows bigint,
 *                 from_change_seq bigint, to_change_seq bigint)
 *
 * Runs with the caller's rights: reading the projection needs SELECT on it,
 * writing files needs superuser or pg_write_server_files.  Memory: rows are
 * formatted in a per-batch context that is reset after every batch.
 */
Datum
phoenix_export(PG_FUNCTION_ARGS)
{
	char	   *projection = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *directory = text_to_cstring(PG_GETARG_TEXT_PP(1));
	const char *format = export_check_format(text_to_cstring(PG_GETARG_TEXT_PP(2)));
	bool		csv = strcmp(format, "csv") == 0;
	TupleDesc	resdesc;
	Oid			relid;
	char	   *relname;
	int64		cursor;
	int64		watermark;
	int64		rows = 0;
	char	   *base;
	ExportFile	data;
	ExportColumn *cols = NULL;
	int			ncols = 0;
	Portal		portal;
	Datum		args[2];
	Oid			argtypes[2] = {INT8OID, INT8OID};
	MemoryContext batchcxt;
	MemoryContext oldcxt;
	Datum		result[5];
	bool		nulls[5] = {false, false, false, false, false};
	char	   *data_name = NULL;
	char	   *manifest_name = NULL;

	if (get_call_result_type(fcinfo, NULL, &resdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	resdesc = BlessTupleDesc(resdesc);

	export_check_privileges();
	directory = export_check_directory(directory);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	relid = export_relation(projection);
	relname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
										 get_rel_name(relid));
	cursor = export_lock_cursor(projection, directory, format);

	/* The watermark first, then a snapshot that sees everything below it. */
	watermark = changeseq_safe();
	if (watermark <= cursor)
	{
		SPI_finish();
		nulls[0] = nulls[1] = true;
		result[2] = Int64GetDatum(0);
		result[3] = result[4] = Int64GetDatum(cursor);
		PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(resdesc, result, nulls)));
	}

	remove_stale_files(directory, projection, format, cursor);
	base = psprintf("%s_%019lld_%019lld.%s", projection, (long long) cursor + 1,
					(long long) watermark, format);
	file_open(&data, directory, base);

	args[0] = Int64GetDatum(cursor);
	args[1] = Int64GetDatum(watermark);
	PushActiveSnapshot(GetLatestSnapshot());
	portal = SPI_cursor_open_with_args(NULL,
									   psprintf("SELECT * FROM %s WHERE change_seq > $1 AND change_seq <= $2"
												" ORDER BY change_seq", relname),
									   2, argtypes, args, NULL, true, CURSOR_OPT_NO_SCROLL);
	batchcxt = AllocSetContextCreate(CurrentMemoryContext, "phoenix export batch",
									 ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		uint64		i;

		SPI_cursor_fetch(portal, true, EXPORT_BATCH);
		if (cols == NULL)
		{
			cols = export_columns(SPI_tuptable->tupdesc);
			ncols = SPI_tuptable->tupdesc->natts;
			if (csv)
				export_header_csv(&data, cols, ncols);
		}
		if (SPI_processed == 0)
			break;
		oldcxt = MemoryContextSwitchTo(batchcxt);
		for (i = 0; i < SPI_processed; i++)
			export_row(&data, csv, cols, ncols, SPI_tuptable->vals[i], SPI_tuptable->tupdesc);
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(batchcxt);
		rows += SPI_processed;
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	PopActiveSnapshot();
	data_name = file_commit(&data);

	/* The manifest: what was exported, its checksum, and a bq load schema. */
	{
		ExportFile	man;
		uint8		digest[PG_SHA256_DIGEST_LENGTH];
		char		hex[PG_SHA256_DIGEST_LENGTH * 2 + 1];
		int			i;

		if (pg_cryptohash_final(data.sha, digest, sizeof(digest)) < 0)
			elog(ERROR, "could not finish SHA-256: %s", pg_cryptohash_error(data.sha));
		pg_cryptohash_free(data.sha);
		hex_encode((const char *) digest, sizeof(digest), hex);
		hex[sizeof(hex) - 1] = '\0';

		file_open(&man, directory, psprintf("%s.manifest.json", base));
		appendStringInfoString(&man.buf, "{\"projection\":");
		escape_json(&man.buf, projection);
		appendStringInfoString(&man.buf, ",\"table\":");
		escape_json(&man.buf, relname);
		appendStringInfo(&man.buf, ",\"format\":\"%s\",\"source_format\":\"%s\",\"file\":",
						 format, csv ? "CSV" : "NEWLINE_DELIMITED_JSON");
		escape_json(&man.buf, data_name);
		appendStringInfo(&man.buf, ",\"rows\":" INT64_FORMAT ",\"from_change_seq\":" INT64_FORMAT
						 ",\"to_change_seq\":" INT64_FORMAT ",\"exported_at\":\"",
						 rows, cursor + 1, watermark);
		append_timestamp(&man.buf, GetCurrentTransactionStartTimestamp(), true);
		appendStringInfo(&man.buf, "\",\"sha256\":\"%s\",\"skip_leading_rows\":%d,\"schema\":[",
						 hex, csv ? 1 : 0);
		for (i = 0; i < ncols; i++)
		{
			appendStringInfoString(&man.buf, i ? ",{\"name\":" : "{\"name\":");
			escape_json(&man.buf, cols[i].name);
			appendStringInfo(&man.buf, ",\"type\":\"%s\",\"mode\":\"NULLABLE\"}", cols[i].bqtype);
		}
		appendStringInfoString(&man.buf, "]}\n");
		manifest_name = file_commit(&man);
		pg_cryptohash_free(man.sha);
	}

	export_save_cursor(projection, directory, format, watermark, data_name, rows);

	/*
	 * The names live in SPI's memory, which SPI_finish frees: copy them to
	 * the caller's context first (SPI_palloc), or the result reads freed memory.
	 */
	data_name = strcpy(SPI_palloc(strlen(data_name) + 1), data_name);
	manifest_name = strcpy(SPI_palloc(strlen(manifest_name) + 1), manifest_name);
	SPI_finish();

	result[0] = CStringGetTextDatum(data_name);
	result[1] = CStringGetTextDatum(manifest_name);
	result[2] = Int64GetDatum(rows);
	result[3] = Int64GetDatum(cursor + 1);
	result[4] = Int64GetDatum(watermark);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(resdesc, result, nulls)));
}

void
ExportInit(void)
{
	RegisterXactCallback(export_xact_callback, NULL);
}

/* Writing server files is for superusers and pg_write_server_files. */
static void
export_check_privileges(void)
{
	if (!has_privs_of_role(GetOuterUserId(), ROLE_PG_WRITE_SERVER_FILES))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to export to a server directory"),
				 errdetail("Exports write files on the database server."),
				 errhint("Only superusers and members of pg_write_server_files may export; grant pg_write_server_files to the exporting role.")));
}

static const char *
export_check_format(const char *format)
{
	if (strcmp(format, "ndjson") == 0 || strcmp(format, "csv") == 0)
		return format;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown export format \"%s\"", format),
			 errhint("Use 'ndjson' (newline-delimited JSON) or 'csv'.")));
	return NULL;				/* keep compiler quiet */
}

/* An absolute path to an existing directory, canonicalized. */
static char *
export_check_directory(const char *directory)
{
	char	   *dir = pstrdup(directory);
	struct stat st;

	canonicalize_path(dir);
	if (!is_absolute_path(dir))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("export directory \"%s\" is not an absolute path", directory),
				 errhint("Give the full path of a directory the database server can write to.")));
	if (stat(dir, &st) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not access export directory \"%s\": %m", dir),
				 errhint("Create the directory and make it writable by the database server's operating-system user.")));
	if (!S_ISDIR(st.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("export directory \"%s\" is not a directory", dir)));
	return dir;
}

/*
 * The reporting table of a projection: its table (as the projection layer
 * knows it), else a table of that name in schema reporting (for tables kept by
 * other means).  It must carry change_seq.  Called inside SPI.
 */
static Oid
export_relation(const char *projection)
{
	const char *c;
	Oid			relid = InvalidOid;
	Projection *p;

	/* The name becomes part of file names: plain identifiers only. */
	for (c = projection; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_NAME),
					 errmsg("projection name \"%s\" cannot be exported", projection),
					 errdetail("Export file names are made from the projection name, which must consist of lower-case letters, digits and underscores."),
					 errhint("Projections made by phoenix.create_projection always have such names.")));

	p = projection_lookup(projection);
	if (p != NULL)
		relid = projection_table_relid(p, NoLock, true);
	if (!OidIsValid(relid) && *projection != '\0')
	{
		Oid			nsp = get_namespace_oid("reporting", true);

		if (OidIsValid(nsp))
			relid = get_relname_relid(projection, nsp);
	}
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("projection \"%s\" does not exist", projection),
				 errhint("Create it with phoenix.create_projection, or name a table in schema reporting.")));
	if (get_attnum(relid, "change_seq") == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("reporting table \"%s\" has no change_seq column", projection),
				 errhint("Only tables maintained by projections (which number every change) can be exported incrementally.")));
	return relid;
}

/* Create (if new) and row-lock the export cursor; returns its change number. */
static int64
export_lock_cursor(const char *projection, const char *directory, const char *format)
{
	Oid			argtypes[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		args[3];
	bool		isnull;
	int			rc;

	args[0] = CStringGetTextDatum(projection);
	args[1] = CStringGetTextDatum(directory);
	args[2] = CStringGetTextDatum(format);
	rc = SPI_execute_with_args("INSERT INTO phoenix.export_cursors (projection, directory, format)"
							   " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
							   3, argtypes, args, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "could not create export cursor: %s", SPI_result_code_string(rc));
	rc = SPI_execute_with_args("SELECT last_change_seq FROM phoenix.export_cursors"
							   " WHERE projection = $1 AND directory = $2 AND format = $3 FOR UPDATE",
							   3, argtypes, args, NULL, false, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not lock export cursor: %s", SPI_result_code_string(rc));
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

static void
export_save_cursor(const char *projection, const char *directory, const char *format,
				   int64 watermark, const char *file, int64 rows)
{
	Oid			argtypes[6] = {TEXTOID, TEXTOID, TEXTOID, INT8OID, TEXTOID, INT8OID};
	Datum		args[6];
	int			rc;

	args[0] = CStringGetTextDatum(projection);
	args[1] = CStringGetTextDatum(directory);
	args[2] = CStringGetTextDatum(format);
	args[3] = Int64GetDatum(watermark);
	args[4] = CStringGetTextDatum(file);
	args[5] = Int64GetDatum(rows);
	rc = SPI_execute_with_args("UPDATE phoenix.export_cursors SET last_change_seq = $4, last_file = $5,"
							   " last_rows = $6, exported_at = now(), exports = exports + 1"
							   " WHERE projection = $1 AND directory = $2 AND format = $3",
							   6, argtypes, args, NULL, false, 0);
	if (rc != SPI_OK_UPDATE)
		elog(ERROR, "could not advance export cursor: %s", SPI_result_code_string(rc));
}

/* Decide once per export how each column is written. */
static ExportColumn *
export_columns(TupleDesc desc)
{
	ExportColumn *cols = palloc0(sizeof(ExportColumn) * desc->natts);
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		int32		typmod = att->atttypmod;
		Oid			base = getBaseTypeAndTypmod(att->atttypid, &typmod);
		BigQueryProblem problem;
		Oid			outfunc;
		bool		varlena;

		cols[i].name = pstrdup(NameStr(att->attname));
		cols[i].typid = base;
		cols[i].bqtype = bigquery_type(base, typmod, &problem);
		if (problem.reason != NULL)
			cols[i].bqtype = "STRING";	/* exported as its text form */
		switch (base)
		{
			case BOOLOID:
				cols[i].kind = EK_BOOL;
				break;
			case INT2OID:
			case INT4OID:
			case INT8OID:
			case NUMERICOID:
				cols[i].kind = EK_NUMBER;
				break;
			case FLOAT4OID:
			case FLOAT8OID:
				cols[i].kind = EK_FLOAT;
				break;
			case TIMESTAMPTZOID:
				cols[i].kind = EK_TIMESTAMPTZ;
				break;
			case TIMESTAMPOID:
				cols[i].kind = EK_TIMESTAMP;
				break;
			case DATEOID:
				cols[i].kind = EK_DATE;
				break;
			case TIMEOID:
				cols[i].kind = EK_TIME;
				break;
			case BYTEAOID:
				cols[i].kind = EK_BYTEA;
				break;
			default:
				cols[i].kind = EK_TEXT;
				break;
		}
		getTypeOutputInfo(base, &outfunc, &varlena);
		fmgr_info(outfunc, &cols[i].out);
	}
	return cols;
}

static void
export_header_csv(ExportFile *f, ExportColumn *cols, int ncols)
{
	int			i;

	for (i = 0; i < ncols; i++)
	{
		if (i > 0)
			appendStringInfoChar(&f->buf, ',');
		append_quoted_csv(&f->buf, cols[i].name);
	}
	appendStringInfoChar(&f->buf, '\n');
}

/* One row: an NDJSON object or a CSV record, then a newline. */
static void
export_row(ExportFile *f, bool csv, ExportColumn *cols, int ncols, HeapTuple tuple, TupleDesc desc)
{
	int			i;

	if (!csv)
		appendStringInfoChar(&f->buf, '{');
	for (i = 0; i < ncols; i++)
	{
		bool		isnull;
		Datum		value = heap_getattr(tuple, i + 1, desc, &isnull);

		if (i > 0)
			appendStringInfoChar(&f->buf, ',');
		if (!csv)
		{
			escape_json(&f->buf, cols[i].name);
			appendStringInfoChar(&f->buf, ':');
		}
		if (isnull)
		{
			if (!csv)
				appendStringInfoString(&f->buf, "null");
			continue;
		}
		export_value(&f->buf, csv, &cols[i], value);
	}
	appendStringInfoString(&f->buf, csv ? "\n" : "}\n");
	if (f->buf.len >= EXPORT_FLUSH_AT)
		file_flush(f);
}

/* One non-NULL value, quoted as the format wants. */
static void
export_value(StringInfo buf, bool csv, ExportColumn *col, Datum value)
{
	char	   *s;

	switch (col->kind)
	{
		case EK_BOOL:
			appendStringInfoString(buf, DatumGetBool(value) ? "true" : "false");
			return;
		case EK_FLOAT:
			{
				double		d = col->typid == FLOAT4OID ?
				(double) DatumGetFloat4(value) : DatumGetFloat8(value);

				if (isnan(d) || isinf(d))
				{
					const char *word = isnan(d) ? "NaN" : (d > 0 ? "Infinity" : "-Infinity");

					appendStringInfo(buf, csv ? "%s" : "\"%s\"", word);
					return;
				}
			}
			/* FALLTHROUGH */
		case EK_NUMBER:
			s = OutputFunctionCall(&col->out, value);
			if (strcmp(s, "NaN") == 0 || strstr(s, "Infinity") != NULL)
				appendStringInfo(buf, csv ? "%s" : "\"%s\"", s);
			else
				appendStringInfoString(buf, s);
			return;
		case EK_TIMESTAMPTZ:
		case EK_TIMESTAMP:
			if (!csv)
				appendStringInfoChar(buf, '"');
			append_timestamp(buf, DatumGetTimestamp(value), col->kind == EK_TIMESTAMPTZ);
			if (!csv)
				appendStringInfoChar(buf, '"');
			return;
		case EK_DATE:
			{
				DateADT		date = DatumGetDateADT(value);
				int			y, m, d;

				if (DATE_IS_NOBEGIN(date))
					y = 1, m = 1, d = 1;
				else if (DATE_IS_NOEND(date))
					y = 9999, m = 12, d = 31;
				else
					j2date(date + POSTGRES_EPOCH_JDATE, &y, &m, &d);
				if (y < 1)
					y = 1, m = 1, d = 1;
				else if (y > 9999)
					y = 9999, m = 12, d = 31;
				appendStringInfo(buf, csv ? "%04d-%02d-%02d" : "\"%04d-%02d-%02d\"", y, m, d);
				return;
			}
		case EK_TIME:
			{
				TimeADT		t = DatumGetTimeADT(value);

				if (!csv)
					appendStringInfoChar(buf, '"');
				appendStringInfo(buf, "%02d:%02d:%02d",
								 (int) (t / USECS_PER_HOUR), (int) (t / USECS_PER_MINUTE % 60),
								 (int) (t / USECS_PER_SEC % 60));
				append_fraction(buf, (int) (t % USECS_PER_SEC));
				if (!csv)
					appendStringInfoChar(buf, '"');
				return;
			}
		case EK_BYTEA:
			{
				bytea	   *b = DatumGetByteaPP(value);
				int			len = VARSIZE_ANY_EXHDR(b);
				int			enclen = pg_b64_enc_len(len);
				char	   *enc = palloc(enclen + 1);
				int			n = pg_b64_encode(VARDATA_ANY(b), len, enc, enclen);

				if (n < 0)
					elog(ERROR, "could not encode bytea as base64");
				enc[n] = '\0';
				/* quoted in CSV too: an empty value must not read as NULL */
				appendStringInfo(buf, "\"%s\"", enc);
				return;
			}
		case EK_TEXT:
			s = OutputFunctionCall(&col->out, value);
			if (csv)
				append_quoted_csv(buf, s);
			else
				escape_json(buf, s);
			return;
	}
}

/*
 * RFC 3339: "YYYY-MM-DDTHH:MM:SS[.ffffff]" plus "Z" for timestamptz (always
 * UTC, whatever the session's TimeZone).  Trailing zeros of the fraction are
 * dropped.  Infinite and out-of-range values are clamped to BigQuery's range.
 */
static void
append_timestamp(StringInfo buf, Timestamp ts, bool utc)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (TIMESTAMP_NOT_FINITE(ts) || timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0 ||
		tm.tm_year < 1 || tm.tm_year > 9999)
	{
		bool		low = TIMESTAMP_IS_NOBEGIN(ts) || (!TIMESTAMP_NOT_FINITE(ts) && ts < 0);

		appendStringInfoString(buf, low ? "0001-01-01T00:00:00" : "9999-12-31T23:59:59.999999");
	}
	else
	{
		appendStringInfo(buf, "%04d-%02d-%02dT%02d:%02d:%02d",
						 tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
		append_fraction(buf, (int) fsec);
	}
	if (utc)
		appendStringInfoChar(buf, 'Z');
}

/* ".ffffff" without trailing zeros; nothing for whole seconds. */
static void
append_fraction(StringInfo buf, int usec)
{
	char		frac[8];
	int			len;

	if (usec == 0)
		return;
	snprintf(frac, sizeof(frac), ".%06d", usec);
	for (len = 7; frac[len - 1] == '0'; len--)
		;
	appendBinaryStringInfo(buf, frac, len);
}

/* RFC 4180: always quoted, quotes doubled; newlines stay inside the quotes. */
static void
append_quoted_csv(StringInfo buf, const char *s)
{
	appendStringInfoChar(buf, '"');
	for (; *s; s++)
	{
		if (*s == '"')
			appendStringInfoChar(buf, '"');
		appendStringInfoChar(buf, *s);
	}
	appendStringInfoChar(buf, '"');
}

/*
 * Create the hidden temporary file ".<name>.tmp" in dir (replacing one left
 * by a crash) and remember it for removal on abort.  The descriptor is a
 * transient file: closed by the server if the transaction errors out.
 */
static void
file_open(ExportFile *f, const char *dir, const char *name)
{
	f->path = psprintf("%s/%s", dir, name);
	f->tmp_path = psprintf("%s/.%s.tmp", dir, name);
	if (unlink(f->tmp_path) != 0 && errno != ENOENT)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not remove stale export file \"%s\": %m", f->tmp_path)));
	remember_file(f->tmp_path);
	f->fd = OpenTransientFilePerm(f->tmp_path, O_WRONLY | O_CREAT | O_EXCL | PG_BINARY, 0640);
	if (f->fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create export file \"%s\": %m", f->tmp_path),
				 errhint("The export directory must be writable by the database server's operating-system user.")));
	initStringInfo(&f->buf);
	f->sha = pg_cryptohash_create(PG_SHA256);
	if (pg_cryptohash_init(f->sha) < 0)
		elog(ERROR, "could not start SHA-256: %s", pg_cryptohash_error(f->sha));
}

static void
file_flush(ExportFile *f)
{
	char	   *p = f->buf.data;
	int			left = f->buf.len;

	if (pg_cryptohash_update(f->sha, (uint8 *) p, left) < 0)
		elog(ERROR, "could not update SHA-256: %s", pg_cryptohash_error(f->sha));
	while (left > 0)
	{
		ssize_t		n = write(f->fd, p, left);

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not write export file \"%s\": %m", f->tmp_path)));
		}
		p += n;
		left -= n;
	}
	resetStringInfo(&f->buf);
}

/*
 * Flush, fsync, close and rename into place (durable_rename fsyncs the file
 * and the directory).  Returns the file's name within the directory.
 */
static char *
file_commit(ExportFile *f)
{
	file_flush(f);
	if (pg_fsync(f->fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not fsync export file \"%s\": %m", f->tmp_path)));
	if (CloseTransientFile(f->fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close export file \"%s\": %m", f->tmp_path)));
	remember_file(f->path);
	durable_rename(f->tmp_path, f->path, ERROR);
	return pstrdup(strrchr(f->path, '/') + 1);
}

/*
 * Remove what crashed exports of this target left: hidden temporary files
 * (".<projection>_<from>_<to>.<format>[.manifest.json].tmp"), and files of
 * exports that never committed — a crash after the rename but before the
 * commit leaves "<projection>_<from>_<to>.<format>" with from beyond the
 * cursor, which this export supersedes.  Safe: the caller holds the target's
 * cursor row lock, so no live export of the same projection, directory and
 * format is writing them.
 */
static void
remove_stale_files(const char *dir, const char *projection, const char *format, int64 cursor)
{
	DIR		   *d = AllocateDir(dir);
	struct dirent *de;
	char	   *hidden = psprintf(".%s_", projection);
	char	   *visible = psprintf("%s_", projection);
	char	   *data_suffix = psprintf(".%s", format);
	char	   *manifest_suffix = psprintf(".%s.manifest.json", format);

	while ((de = ReadDir(d, dir)) != NULL)
	{
		const char *name = de->d_name;
		bool		is_tmp = strncmp(name, hidden, strlen(hidden)) == 0;
		const char *rest;
		long long	from;
		long long	to;
		int			used = 0;

		if (!is_tmp && strncmp(name, visible, strlen(visible)) != 0)
			continue;
		rest = name + (is_tmp ? strlen(hidden) : strlen(visible));
		if (sscanf(rest, "%19lld_%19lld%n", &from, &to, &used) != 2 || used != 39)
			continue;
		rest += used;
		if (is_tmp ? !(strcmp(rest, psprintf("%s.tmp", data_suffix)) == 0 ||
					   strcmp(rest, psprintf("%s.tmp", manifest_suffix)) == 0)
			: !((strcmp(rest, data_suffix) == 0 || strcmp(rest, manifest_suffix) == 0) &&
				from > cursor))
			continue;
		if (unlink(psprintf("%s/%s", dir, name)) != 0 && errno != ENOENT)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not remove stale export file \"%s/%s\": %m", dir, name)));
	}
	FreeDir(d);
}

/* Files to delete if this transaction aborts (kept in TopTransactionContext). */
static void
remember_file(const char *path)
{
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

	created_files = lappend(created_files, pstrdup(path));
	MemoryContextSwitchTo(old);
}

/*
 * On abort, remove what the transaction's exports created, so no file is
 * visible whose cursor did not advance; on commit just forget the list.
 */
static void
export_xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;

	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
	{
		foreach(lc, created_files)
		{
			const char *path = lfirst(lc);

			if (unlink(path) != 0 && errno != ENOENT)
				ereport(WARNING,
						(errcode_for_file_access(),
						 errmsg("could not remove export file \"%s\" of an aborted export: %m", path)));
		}
	}
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PREPARE)
		created_files = NIL;
}
