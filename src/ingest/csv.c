/*
 * csv.c — phoenix.ingest_csv: one event per CSV row, read with PostgreSQL's
 * COPY machinery (BeginCopyFrom with a data-source callback and
 * NextCopyFromRawFields, as contrib/file_fdw does), typed by the event
 * type's schema and handed to emit_items() a chunk at a time.
 *
 * COPY refuses invalid UTF-8 and NUL bytes with an ERROR for the whole
 * input, so the data-source callback passes the input through a sanitizer
 * that replaces each offending byte with U+FFFD, remembering which byte it
 * was; rows that contain one are dead-lettered with their line number, and
 * their dead letter shows the byte as \xNN, as every other path does
 * (softparse_sanitize).  A U+FFFD the input itself held is just a character.
 *
 * The header names at most CSV_MAX_COLUMNS columns (PostgreSQL's own limit
 * for a table), so that a hostile header costs little: its duplicates are
 * found by sorting, and every loop over rows or bytes checks for interrupts.
 */
#include "postgres.h"

#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "commands/copy.h"
#include "commands/copyfrom_internal.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_node.h"
#include "storage/fd.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/rel.h"

#include "ingest/emit.h"
#include "common/phoenix.h"
#include "registry/registry.h"
#include "json/softparse.h"

#define CSV_READ_BLOCK		65536

/* Widest header accepted (a payload field per column). */
#define CSV_MAX_COLUMNS		1600

/* U+FFFD REPLACEMENT CHARACTER in UTF-8: what the sanitizer puts in. */
#define REPLACEMENT_UTF8	"\xEF\xBF\xBD"

/* Where the bytes come from, and the sanitized bytes not yet handed to COPY. */
typedef struct CsvSource
{
	FILE	   *file;			/* a server file, or NULL: text */
	const char *text;
	size_t		text_len;
	size_t		text_off;
	bool		eof;
	char		carry[MAX_MULTIBYTE_CHAR_LEN];	/* split multibyte char */
	int			ncarry;
	StringInfoData out;			/* sanitized, not yet consumed */
	int			out_off;
	/*
	 * Every U+FFFD of the sanitized stream that no row has met yet, in
	 * order: the byte it replaced, or -1 when the input held it.  Rows are
	 * read in stream order and each holds its own, so a row's U+FFFDs are
	 * the next ones here.
	 */
	int16	   *fffd;			/* in cxt */
	MemoryContext cxt;
	int			fffd_head;		/* the next one a row meets */
	int			fffd_len;
	int			fffd_cap;
} CsvSource;

/* One CSV column: the payload field it fills and how its values are typed. */
typedef struct CsvColumn
{
	char	   *field;
	PhxFieldKind kind;
	int			index;			/* position in the row */
} CsvColumn;

/* The callback of COPY takes no argument: the source being read. */
static CsvSource *csv_current = NULL;

static int	csv_read_cb(void *outbuf, int minread, int maxread);
static bool csv_fill(CsvSource *src);
static void csv_sanitize_block(CsvSource *src, const char *buf, int len);
static void csv_note_fffd(CsvSource *src, int16 byte);
static bool csv_line_replaced(CsvSource *src, const char *line, int len, char **shown);
static CsvColumn *csv_header(CopyFromState cstate, PhxEventType *type, int *ncols);
static int	csv_column_index(CsvColumn *cols, int ncols, const char *field, PhxEventType *type);
static int	csv_column_cmp(const void *a, const void *b);
/* What every row of one input shares. */
typedef struct CsvInput
{
	CopyFromState cstate;
	CsvSource  *src;
	PhxEventType *type;
	CsvColumn  *cols;
	int			ncols;
	int			id_col;			/* column holding the event id, or -1 */
	const char *source;
	uint64		last_line;		/* physical line the previous record ended on */
} CsvInput;

static int	csv_read_chunk(CsvInput *in, EmitItem *chunk, bool *failed);
static void csv_row_item(CsvInput *in, char **fields, int nfields, EmitItem *item);
static Jsonb *csv_row_payload(CsvColumn *cols, int ncols, char **fields);
static bool csv_bool(const char *s, bool *result);
static bool is_server_path(const char *csv);

PG_FUNCTION_INFO_V1(phoenix_ingest_csv);

/*
 * ingest_csv(event_type, csv, source, delimiter, id_field) → (accepted,
 * rejected).  `csv` is a server file path (absolute, one line: superusers and
 * members of pg_read_server_files) or the CSV text itself.  The first row
 * names the payload fields; id_field names the column whose value is also
 * the event id (so that uploading a file again is idempotent).
 */
Datum
phoenix_ingest_csv(PG_FUNCTION_ARGS)
{
	char	   *type_name;
	char	   *csv;
	const char *source;
	char	   *delimiter;
	char	   *id_field;
	CsvInput	in;
	PhxEventType *type;
	CsvSource	src;
	Relation	rel;
	CopyFromState cstate;
	CsvColumn  *cols;
	int			ncols;
	EmitItem   *chunk;
	EmitCounts	counts = {0, 0};
	MemoryContext chunk_cxt;
	bool		failed = false;
	List	   *options;
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("event type and csv must not be null")));
	type_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	csv = text_to_cstring(PG_GETARG_TEXT_PP(1));
	source = PG_ARGISNULL(2) ? "csv" : text_to_cstring(PG_GETARG_TEXT_PP(2));
	delimiter = PG_ARGISNULL(3) ? "," : text_to_cstring(PG_GETARG_TEXT_PP(3));
	id_field = PG_ARGISNULL(4) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(4));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	memset(&src, 0, sizeof(src));
	initStringInfo(&src.out);
	src.cxt = CurrentMemoryContext;
	if (is_server_path(csv))
	{
		/*
		 * The caller's rights, not the function owner's: ingest_csv runs as
		 * SECURITY DEFINER (90_grants.sql), and GetOuterUserId() is the role
		 * that called it.
		 */
		if (!superuser_arg(GetOuterUserId()) &&
			!has_privs_of_role(GetOuterUserId(), ROLE_PG_READ_SERVER_FILES))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("reading CSV file \"%s\" requires superuser or pg_read_server_files", csv),
					 errhint("Pass the CSV text itself instead of a path.")));
		src.file = AllocateFile(csv, PG_BINARY_R);
		if (src.file == NULL)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not open CSV file \"%s\" for reading: %m", csv)));
	}
	else
	{
		src.text = csv;
		src.text_len = strlen(csv);
	}

	SPI_connect();
	type = registry_event_type(type_name, false);

	/*
	 * COPY wants a relation for its per-column state; only raw fields are
	 * read here, so any table does: the dead letters, which we own.
	 */
	rel = table_open(get_relname_relid("dead_letters", get_namespace_oid(PHOENIX_SCHEMA, false)),
					 AccessShareLock);
	/* the bytes are in the database's encoding already: no conversion */
	options = list_make3(makeDefElem("format", (Node *) makeString("csv"), -1),
						 makeDefElem("delimiter", (Node *) makeString(delimiter), -1),
						 makeDefElem("encoding", (Node *) makeString((char *) GetDatabaseEncodingName()), -1));
	csv_current = &src;
	cstate = BeginCopyFrom(make_parsestate(NULL), rel, NULL, NULL, false, csv_read_cb, NIL, options);

	cols = csv_header(cstate, type, &ncols);
	in.cstate = cstate;
	in.src = &src;
	in.type = type;
	in.cols = cols;
	in.ncols = ncols;
	in.id_col = (cols && id_field) ? csv_column_index(cols, ncols, id_field, type) : -1;
	in.source = source;
	in.last_line = cstate->cur_lineno;
	chunk = palloc(sizeof(EmitItem) * EMIT_CHUNK);
	chunk_cxt = emit_chunk_context(CurrentMemoryContext);
	while (cols != NULL && !failed)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(chunk_cxt);
		int			n = csv_read_chunk(&in, chunk, &failed);
		EmitCounts	c;

		if (n == 0)
		{
			MemoryContextSwitchTo(oldcxt);
			break;
		}
		c = emit_items(chunk, n, false);
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(chunk_cxt);
		counts.accepted += c.accepted;
		counts.rejected += c.rejected;
	}
	emit_chunk_context_done(chunk_cxt);
	EndCopyFrom(cstate);
	csv_current = NULL;
	table_close(rel, AccessShareLock);
	if (src.file)
		FreeFile(src.file);
	SPI_finish();

	values[0] = Int64GetDatum(counts.accepted);
	values[1] = Int64GetDatum(counts.rejected);
	return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls));
}

/*
 * COPY's data source: hand out sanitized bytes.  Returns 0 only at the end
 * of the input.
 */
static int
csv_read_cb(void *outbuf, int minread, int maxread)
{
	CsvSource  *src = csv_current;
	int			copied = 0;

	while (copied < minread)
	{
		int			n;

		if (src->out_off >= src->out.len)
		{
			resetStringInfo(&src->out);
			src->out_off = 0;
			if (!csv_fill(src))
				break;
			continue;
		}
		CHECK_FOR_INTERRUPTS();
		n = Min(maxread - copied, src->out.len - src->out_off);
		memcpy((char *) outbuf + copied, src->out.data + src->out_off, n);
		copied += n;
		src->out_off += n;
	}
	return copied;
}

/* Read the next block of input and sanitize it into src->out; false at the end. */
static bool
csv_fill(CsvSource *src)
{
	char		buf[CSV_READ_BLOCK + MAX_MULTIBYTE_CHAR_LEN];
	int			len = src->ncarry;

	if (src->eof && src->ncarry == 0)
		return false;
	memcpy(buf, src->carry, src->ncarry);
	src->ncarry = 0;
	if (!src->eof)
	{
		size_t		n;

		if (src->file)
		{
			n = fread(buf + len, 1, CSV_READ_BLOCK, src->file);
			if (ferror(src->file))
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not read CSV file: %m")));
		}
		else
		{
			n = Min(CSV_READ_BLOCK, src->text_len - src->text_off);
			memcpy(buf + len, src->text + src->text_off, n);
			src->text_off += n;
		}
		if (n == 0)
			src->eof = true;
		len += n;
	}
	if (len == 0)
		return false;
	csv_sanitize_block(src, buf, len);
	return true;
}

/*
 * Copy valid characters through; replace each invalid byte (and NUL) by
 * U+FFFD, and note every U+FFFD (see CsvSource).  A multibyte character cut
 * by the block end is carried over to the next block unless the input has
 * ended.
 */
static void
csv_sanitize_block(CsvSource *src, const char *buf, int len)
{
	int			enc = GetDatabaseEncoding();
	int			i = 0;

	while (i < len)
	{
		int			ok = pg_encoding_verifymbstr(enc, buf + i, len - i);
		const char *p = buf + i;
		const char *end = buf + i + ok;

		CHECK_FOR_INTERRUPTS();
		appendBinaryStringInfo(&src->out, buf + i, ok);
		while ((p = memmem(p, end - p, REPLACEMENT_UTF8, 3)) != NULL)
		{
			csv_note_fffd(src, -1);
			p += 3;
		}
		i += ok;
		if (i >= len)
			break;
		if (!src->eof && buf[i] != '\0' &&
			len - i < pg_encoding_mblen(enc, buf + i) && len - i <= MAX_MULTIBYTE_CHAR_LEN)
		{
			memcpy(src->carry, buf + i, len - i);
			src->ncarry = len - i;
			break;
		}
		appendBinaryStringInfo(&src->out, REPLACEMENT_UTF8, 3);
		csv_note_fffd(src, (unsigned char) buf[i]);
		i++;
	}
}

/* One more U+FFFD in the sanitized stream (byte: what it replaced, or -1). */
static void
csv_note_fffd(CsvSource *src, int16 byte)
{
	if (src->fffd_len == src->fffd_cap)
	{
		/* drop what rows have met: the stream runs only a few blocks ahead */
		if (src->fffd_head > 0)
		{
			memmove(src->fffd, src->fffd + src->fffd_head, sizeof(int16) * (src->fffd_len - src->fffd_head));
			src->fffd_len -= src->fffd_head;
			src->fffd_head = 0;
		}
		if (src->fffd_len == src->fffd_cap)
		{
			src->fffd_cap = Max(64, src->fffd_cap * 2);
			src->fffd = src->fffd ? repalloc(src->fffd, sizeof(int16) * src->fffd_cap) :
				MemoryContextAlloc(src->cxt, sizeof(int16) * src->fffd_cap);
		}
	}
	src->fffd[src->fffd_len++] = byte;
}

/*
 * A row's text (COPY's line buffer: the whole record) meets its U+FFFDs:
 * true when one of them replaced a byte, and then *shown (when asked) is
 * the text with each replaced byte as \xNN.  Every row must pass here, in
 * order.
 */
static bool
csv_line_replaced(CsvSource *src, const char *line, int len, char **shown)
{
	const char *p = line;
	const char *end = line + len;
	bool		replaced = false;
	StringInfoData buf;

	if (src->fffd_head == src->fffd_len)
		return false;			/* no U+FFFD ahead: none in this row */
	if (shown)
		initStringInfo(&buf);
	while (src->fffd_head < src->fffd_len)
	{
		const char *q = memmem(p, end - p, REPLACEMENT_UTF8, 3);
		int16		byte;

		if (q == NULL)
			break;
		byte = src->fffd[src->fffd_head++];
		if (shown)
		{
			appendBinaryStringInfo(&buf, p, q - p);
			if (byte >= 0)
				appendStringInfo(&buf, "\\x%02X", byte);
			else
				appendBinaryStringInfo(&buf, q, 3);
		}
		replaced |= byte >= 0;
		p = q + 3;
	}
	if (shown && replaced)
	{
		appendBinaryStringInfo(&buf, p, end - p);
		*shown = buf.data;
	}
	return replaced;
}

/*
 * The header row: each column names a payload field; the schema's type for
 * that field decides how its values are typed.  NULL when the input is empty.
 */
static CsvColumn *
csv_header(CopyFromState cstate, PhxEventType *type, int *ncols)
{
	char	  **fields;
	int			nfields;
	CsvColumn  *cols;
	int			i;

	if (!NextCopyFromRawFields(cstate, &fields, &nfields))
		return NULL;
	if (csv_line_replaced(csv_current, cstate->line_buf.data, cstate->line_buf.len, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("the CSV header for event type \"%s\" is not valid %s", type->name,
						GetDatabaseEncodingName())));
	if (nfields > CSV_MAX_COLUMNS)
		ereport(ERROR,
				(errcode(ERRCODE_TOO_MANY_COLUMNS),
				 errmsg("the CSV header for event type \"%s\" has %d columns, more than %d",
						type->name, nfields, CSV_MAX_COLUMNS),
				 errhint("Each column is a payload field: split wider input, or send it as JSON with phoenix.emit_batch.")));
	cols = palloc(sizeof(CsvColumn) * Max(nfields, 1));
	for (i = 0; i < nfields; i++)
	{
		if (fields[i] == NULL || fields[i][0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
					 errmsg("column %d of the CSV header for event type \"%s\" is empty", i + 1, type->name),
					 errhint("The first row must name the payload field of every column.")));
		cols[i].field = pstrdup(fields[i]);
		cols[i].kind = registry_field_kind(type, fields[i]);
		cols[i].index = i;
	}
	*ncols = nfields;
	/*
	 * Rows are turned into jsonb objects in jsonb's own key order (shorter
	 * keys first, then bytewise), so that sorting the keys of every row
	 * finds them sorted already.  Sorted, a field named twice is two
	 * neighbours: O(n log n), not a comparison of every pair.
	 */
	qsort(cols, nfields, sizeof(CsvColumn), csv_column_cmp);
	for (i = 1; i < nfields; i++)
		if (strcmp(cols[i - 1].field, cols[i].field) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_COLUMN),
					 errmsg("the CSV header for event type \"%s\" names field \"%s\" twice",
							type->name, cols[i].field)));
	return cols;
}

/* jsonb's order of object keys: by length, then bytewise. */
static int
csv_column_cmp(const void *a, const void *b)
{
	const char *x = ((const CsvColumn *) a)->field;
	const char *y = ((const CsvColumn *) b)->field;
	size_t		lx = strlen(x),
				ly = strlen(y);

	if (lx != ly)
		return lx < ly ? -1 : 1;
	return memcmp(x, y, lx);
}

static int
csv_column_index(CsvColumn *cols, int ncols, const char *field, PhxEventType *type)
{
	int			i;

	for (i = 0; i < ncols; i++)
		if (strcmp(cols[i].field, field) == 0)
			return cols[i].index;
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_COLUMN),
			 errmsg("id_field \"%s\" is not a column of the CSV input for event type \"%s\"",
					field, type->name)));
	return -1;					/* keep compiler quiet */
}

/*
 * Read up to EMIT_CHUNK rows into items, in one subtransaction: COPY ERRORs
 * on input it cannot parse at all (an unterminated quoted field at the end),
 * and then the rows read so far are kept, the rest of the input becomes one
 * dead letter, and *failed stops the reading.
 */
static int
csv_read_chunk(CsvInput *in, EmitItem *chunk, bool *failed)
{
	CopyFromState cstate = in->cstate;
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	volatile int n = 0;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		char	  **fields;
		int			nfields;

		while (n < EMIT_CHUNK && NextCopyFromRawFields(cstate, &fields, &nfields))
		{
			csv_row_item(in, fields, nfields, &chunk[n]);
			n++;
			CHECK_FOR_INTERRUPTS();
		}
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		EmitItem   *item = &chunk[n];

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;

		memset(item, 0, sizeof(EmitItem));
		item->event_type = in->type->name;
		item->source = in->source;
		item->source_position = emit_source_position("line", in->last_line + 1);
		item->raw = cstate->line_buf.data ? pstrdup(cstate->line_buf.data) : "";
		(void) csv_line_replaced(in->src, item->raw, strlen(item->raw), (char **) &item->raw);
		item->raw_len = strlen(item->raw);
		item->raw_not_payload = true;
		item->status = EMIT_REJECTED;
		item->sqlerrcode = edata->sqlerrcode;
		item->reason = psprintf("CSV input for event type \"%s\" cannot be parsed from line " UINT64_FORMAT ": %s",
								in->type->name, in->last_line + 1, edata->message);
		n++;
		*failed = true;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcxt);
	CurrentResourceOwner = oldowner;
	return n;
}

/* One data row → item: a typed payload, or a refusal with the line. */
static void
csv_row_item(CsvInput *in, char **fields, int nfields, EmitItem *item)
{
	CopyFromState cstate = in->cstate;
	PhxEventType *type = in->type;
	int			ncols = in->ncols;

	/* a record may span lines (quoted newlines): name the line it starts on */
	uint64		line = in->last_line + 1;
	char	   *shown = NULL;

	in->last_line = cstate->cur_lineno;
	memset(item, 0, sizeof(EmitItem));
	item->event_type = type->name;
	item->source = in->source;
	item->source_position = emit_source_position("line", line);

	if (csv_line_replaced(in->src, cstate->line_buf.data, cstate->line_buf.len, &shown))
	{
		item->reason = psprintf("line " UINT64_FORMAT " of CSV input for event type \"%s\" contains invalid %s or a NUL byte",
								line, type->name, GetDatabaseEncodingName());
		item->sqlerrcode = ERRCODE_CHARACTER_NOT_IN_REPERTOIRE;
	}
	else if (nfields != ncols)
	{
		item->reason = psprintf("line " UINT64_FORMAT " of CSV input for event type \"%s\" has %d fields, the header has %d",
								line, type->name, nfields, ncols);
		item->sqlerrcode = ERRCODE_BAD_COPY_FILE_FORMAT;
	}
	else
	{
		item->payload = csv_row_payload(in->cols, ncols, fields);
		if (in->id_col >= 0 && fields[in->id_col] != NULL)
			item->event_id = pstrdup(fields[in->id_col]);
		return;
	}
	item->status = EMIT_REJECTED;
	item->raw_not_payload = true;
	item->raw = shown ? shown : pstrdup(cstate->line_buf.data);
	item->raw_len = strlen(item->raw);
}

/*
 * The payload of one row: {field: value} for every non-empty field, numbers
 * and booleans typed as the schema declares them (a value that does not
 * parse stays a string, and the schema says why it is wrong).
 */
static Jsonb *
csv_row_payload(CsvColumn *cols, int ncols, char **fields)
{
	JsonbParseState *state = NULL;
	JsonbValue *res;
	int			i;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (i = 0; i < ncols; i++)
	{
		char	   *value = fields[cols[i].index];
		JsonbValue	k,
					v;
		int			len;
		Datum		num;
		bool		b;

		if (value == NULL)
			continue;			/* empty unquoted field: absent */
		len = strlen(value);
		k.type = jbvString;
		k.val.string.val = cols[i].field;
		k.val.string.len = strlen(cols[i].field);
		pushJsonbValue(&state, WJB_KEY, &k);
		if (cols[i].kind == PHX_FIELD_NUMBER && softparse_numeric(value, len, &num))
		{
			v.type = jbvNumeric;
			v.val.numeric = DatumGetNumeric(num);
		}
		else if (cols[i].kind == PHX_FIELD_BOOLEAN && csv_bool(value, &b))
		{
			v.type = jbvBool;
			v.val.boolean = b;
		}
		else
		{
			v.type = jbvString;
			v.val.string.val = value;
			v.val.string.len = len;
		}
		pushJsonbValue(&state, WJB_VALUE, &v);
	}
	res = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

/* CSV spellings of booleans. */
static bool
csv_bool(const char *s, bool *result)
{
	if (pg_strcasecmp(s, "true") == 0 || pg_strcasecmp(s, "t") == 0 ||
		pg_strcasecmp(s, "yes") == 0 || strcmp(s, "1") == 0)
		*result = true;
	else if (pg_strcasecmp(s, "false") == 0 || pg_strcasecmp(s, "f") == 0 ||
			 pg_strcasecmp(s, "no") == 0 || strcmp(s, "0") == 0)
		*result = false;
	else
		return false;
	return true;
}

/* An absolute path on one line is a file; anything else is CSV text. */
static bool
is_server_path(const char *csv)
{
	return csv[0] == '/' && strchr(csv, '\n') == NULL && strchr(csv, '\r') == NULL;
}
