/*
 * emit_batch.c — reading emit_batch's input: the elements of a jsonb array or
 * of JSON text (a fast reader for the common shape, the server's parser for
 * the rest), each turned into an item; an element that cannot be an event is
 * refused with its index, and only text that is not JSON at all is the whole
 * batch's error.
 */
#include "postgres.h"

#include "ingest/emit_int.h"

static void batch_element_item(EmitItem *item, JsonbValue *elem, int index, const char *source);
static char *jsonbvalue_text(JsonbValue *v);
static bool batch_element_fast(BatchState *bs, JsonFastCursor *c);
static int	envelope_field(const char *key, int len);
static const char *batch_element_slow(BatchState *bs, text *events, const char *elem, const char *end);
static bool element_is_json(char *copy, int len);
static void batch_add_refused(BatchState *bs, char *elem, int len, int sqlerrcode, const char *why);
static void batch_syntax_error(text *events) pg_attribute_noreturn();

/*
 * One emit_batch element → item.  Malformed elements become pre-refused
 * items carrying the element's JSON, so they are dead-lettered with their
 * index like any other bad event.
 */
static void
batch_element_item(EmitItem *item, JsonbValue *elem, int index, const char *source)
{
	Jsonb	   *obj;
	JsonbValue *v;

	memset(item, 0, sizeof(EmitItem));
	item->source = source;
	item->source_position = emit_source_position("index", index);
	if (elem->type != jbvBinary || !JsonContainerIsObject(elem->val.binary.data))
	{
		item->raw = jsonbvalue_text(elem);
		item->raw_len = strlen(item->raw);
		item->raw_not_payload = true;
		emit_refuse(item, false, ERRCODE_INVALID_PARAMETER_VALUE, NULL,
			   "batch element %d is not an object with \"type\" and \"payload\"", index);
		return;
	}
	obj = JsonbValueToJsonb(elem);
	if ((v = jsonfast_member(obj, "type")) != NULL && v->type == jbvString)
		item->event_type = pnstrdup(v->val.string.val, v->val.string.len);
	else if ((v = jsonfast_member(obj, "event_type")) != NULL && v->type == jbvString)
		item->event_type = pnstrdup(v->val.string.val, v->val.string.len);
	if ((v = jsonfast_member(obj, "event_id")) != NULL && (v->type == jbvString || v->type == jbvNumeric))
		item->event_id = jsonfast_scalar_text(v);
	if ((v = jsonfast_member(obj, "source")) != NULL && v->type == jbvString)
		item->source = pnstrdup(v->val.string.val, v->val.string.len);

	v = jsonfast_member(obj, "payload");
	if (v && v->type == jbvString)
	{
		/* JSON text: parsed (softly) like a Kafka message */
		item->raw = pnstrdup(v->val.string.val, v->val.string.len);
		item->raw_len = v->val.string.len;
	}
	else if (v && v->type == jbvBinary)
		item->payload = JsonbValueToJsonb(v);
	else
	{
		item->raw = jsonbvalue_text(elem);
		item->raw_len = strlen(item->raw);
		item->raw_not_payload = true;
		emit_refuse(item, false, ERRCODE_PHOENIX_SCHEMA_VIOLATION, NULL,
			   "batch element %d has no object \"payload\"", index);
		return;
	}

	if ((v = jsonfast_member(obj, "effective_at")) != NULL && v->type != jbvNull)
	{
		char	   *why;
		int			code;

		if (v->type != jbvString ||
			!softparse_timestamptz(v->val.string.val, v->val.string.len, &item->effective_at, &why, &code))
		{
			/* the payload may be fine; the envelope is not: keep the element */
			item->payload = NULL;
			item->raw = jsonbvalue_text(elem);
			item->raw_len = strlen(item->raw);
			item->raw_not_payload = true;
			emit_refuse(item, false, v->type == jbvString ? code : ERRCODE_INVALID_DATETIME_FORMAT, NULL,
				   "effective_at of batch element %d: %s", index,
				   v->type == jbvString ? why : "must be a date-time string");
			return;
		}
		item->has_effective_at = true;
	}
}

static char *
jsonbvalue_text(JsonbValue *v)
{
	Jsonb	   *j = JsonbValueToJsonb(v);

	return JsonbToCString(NULL, &j->root, VARSIZE(j));
}

/* One more element (a value in the batch's memory); emit a full chunk. */
void
emit_batch_add(BatchState *bs, JsonbValue *elem)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(bs->chunk_cxt);

	batch_element_item(&bs->chunk[bs->n++], elem, bs->index++, bs->source);
	MemoryContextSwitchTo(oldcxt);
	if (bs->n == EMIT_CHUNK)
		emit_batch_flush(bs);
}

/* Emit the chunk's elements, then free everything they used. */
void
emit_batch_flush(BatchState *bs)
{
	MemoryContext oldcxt;
	EmitCounts	c;

	if (bs->n == 0)
		return;
	oldcxt = MemoryContextSwitchTo(bs->chunk_cxt);
	c = emit_items(bs->chunk, bs->n, false);
	MemoryContextSwitchTo(oldcxt);
	bs->counts.accepted += c.accepted;
	bs->counts.rejected += c.rejected;
	bs->n = 0;
	MemoryContextReset(bs->chunk_cxt);
}

/*
 * The text form's reader: returns false, having read nothing, unless the
 * text is an array; otherwise emits every element (or raises the server's
 * error for malformed JSON).
 */
bool
emit_batch_read_fast(BatchState *bs, text *events)
{
	const char *start = VARDATA_ANY(events);
	JsonFastCursor c;
	char		ch;

	c.p = start;
	c.end = start + VARSIZE_ANY_EXHDR(events);
	if (jsonfast_peek(&c) != '[')
		return false;
	c.p++;
	if (jsonfast_peek(&c) == ']')
		c.p++;
	else
		for (;;)
		{
			const char *elem = c.p;

			if (!batch_element_fast(bs, &c))
				c.p = batch_element_slow(bs, events, elem, c.end);
			CHECK_FOR_INTERRUPTS();
			ch = jsonfast_peek(&c);
			c.p++;
			if (ch == ']')
				break;
			if (ch != ',')
				batch_syntax_error(events);
			(void) jsonfast_peek(&c);
		}
	if (jsonfast_peek(&c) != '\0')
		batch_syntax_error(events);
	return true;
}

/* The fields of an element's envelope that emit_batch reads. */
enum
{
	ENV_TYPE,
	ENV_EVENT_TYPE,
	ENV_EVENT_ID,
	ENV_SOURCE,
	ENV_PAYLOAD,
	ENV_EFFECTIVE_AT,
	ENV_NFIELDS
};

static int
envelope_field(const char *key, int len)
{
	static const char *const names[ENV_NFIELDS] = {"type", "event_type", "event_id", "source",
	"payload", "effective_at"};
	int			f;

	for (f = 0; f < ENV_NFIELDS; f++)
		if (strlen(names[f]) == len && memcmp(names[f], key, len) == 0)
			return f;
	return -1;
}

/*
 * One element of the usual shape (an object with string "type"/
 * "event_type"/"event_id"/"source", a payload object, array or string, a
 * valid or null "effective_at"; other members are skipped) → the next item,
 * as batch_element_item makes it.  false, having added nothing, for
 * anything else: duplicate envelope fields, other types, elements that
 * would be refused (their dead letter keeps the element's text), or what
 * jsonfast.c does not handle.
 */
static bool
batch_element_fast(BatchState *bs, JsonFastCursor *c)
{
	EmitItem   *item = &bs->chunk[bs->n];
	const char *fields[ENV_NFIELDS] = {NULL};
	int			lens[ENV_NFIELDS];
	int			tf;
	bool		payload_seen = false;
	char		ch;

	if (jsonfast_peek(c) != '{')
		return false;
	c->p++;
	memset(item, 0, sizeof(EmitItem));
	for (;;)
	{
		const char *key;
		int			klen;
		int			f;

		if (!jsonfast_string(c, &key, &klen) || jsonfast_peek(c) != ':')
			return false;
		c->p++;
		f = envelope_field(key, klen);
		ch = jsonfast_peek(c);
		if (f == ENV_PAYLOAD)
		{
			JsonbValue *v;

			if (payload_seen)
				return false;
			payload_seen = true;
			if (ch == '{' || ch == '[')
			{
				if ((v = jsonfast_value(c, true)) == NULL)
					return false;
				item->payload = JsonbValueToJsonb(v);
			}
			else if (ch == '"')
			{
				/* JSON text: parsed (softly) like a Kafka message */
				if (!jsonfast_string(c, &key, &klen))
					return false;
				item->raw = pnstrdup(key, klen);
				item->raw_len = klen;
			}
			else
				return false;
		}
		else if (f >= 0)
		{
			if (fields[f] != NULL)
				return false;
			if (f == ENV_EFFECTIVE_AT && ch == 'n')
			{
				JsonbValue *v = jsonfast_value(c, true);

				if (v == NULL || v->type != jbvNull)
					return false;
				fields[f] = "";
				lens[f] = -1;	/* null: not given */
			}
			else if (!jsonfast_string(c, &fields[f], &lens[f]))
				return false;
		}
		else if (jsonfast_value(c, false) == NULL)
			return false;
		ch = jsonfast_peek(c);
		c->p++;
		if (ch == '}')
			break;
		if (ch != ',')
			return false;
	}
	if (!payload_seen)
		return false;
	if (fields[ENV_EFFECTIVE_AT] && lens[ENV_EFFECTIVE_AT] >= 0)
	{
		char	   *why;
		int			code;

		if (!softparse_timestamptz(fields[ENV_EFFECTIVE_AT], lens[ENV_EFFECTIVE_AT],
								   &item->effective_at, &why, &code))
			return false;
		item->has_effective_at = true;
	}
	tf = fields[ENV_TYPE] ? ENV_TYPE : fields[ENV_EVENT_TYPE] ? ENV_EVENT_TYPE : -1;
	if (tf >= 0)
	{
		/* the previous element's type string, when equal: one lookup per run */
		const EmitItem *prev = bs->n > 0 ? &bs->chunk[bs->n - 1] : NULL;

		if (prev && prev->event_type && strncmp(prev->event_type, fields[tf], lens[tf]) == 0 &&
			prev->event_type[lens[tf]] == '\0')
			item->event_type = prev->event_type;
		else
			item->event_type = pnstrdup(fields[tf], lens[tf]);
	}
	if (fields[ENV_EVENT_ID])
		item->event_id = pnstrdup(fields[ENV_EVENT_ID], lens[ENV_EVENT_ID]);
	item->source = fields[ENV_SOURCE] ? pnstrdup(fields[ENV_SOURCE], lens[ENV_SOURCE]) : bs->source;
	item->source_position = emit_source_position("index", bs->index);
	bs->index++;
	if (++bs->n == EMIT_CHUNK)
		emit_batch_flush(bs);
	return true;
}

/*
 * An element the fast reader left: its extent found by brackets, then read
 * by softparse_json, which never raises.  An element whose content cannot
 * be jsonb -- a \u0000 escape, a lone surrogate, a number beyond numeric's
 * range, nesting deeper than SOFTPARSE_MAX_JSON_DEPTH -- is refused with its
 * index, like any other bad element; text that is not JSON at all is the
 * whole batch's syntax error (as the jsonb form's input would raise).
 * Returns where the element ends.
 */
static const char *
batch_element_slow(BatchState *bs, text *events, const char *elem, const char *end)
{
	const char *elem_end = jsonfast_value_end(elem, end);
	char	   *copy;
	char	   *why;
	int			code;
	int			len;
	Jsonb	   *doc;
	JsonbValue	v;

	if (elem_end == NULL)
		batch_syntax_error(events);
	len = (int) (elem_end - elem);
	copy = pnstrdup(elem, len);
	doc = softparse_json(copy, len, &why, &code);
	if (doc == NULL)
	{
		if (!element_is_json(copy, len))
			batch_syntax_error(events);
		batch_add_refused(bs, copy, len, code, why);
		return elem_end;
	}
	v.type = jbvBinary;
	v.val.binary.data = &doc->root;
	v.val.binary.len = VARSIZE(doc) - VARHDRSZ;
	emit_batch_add(bs, &v);
	return elem_end;
}

/*
 * Is the element JSON, whatever its escapes and numbers hold?  (Too deep to
 * look at: taken as such, and refused for its depth.)
 */
static bool
element_is_json(char *copy, int len)
{
	char	   *why;
	int			code;

	if (!softparse_json_shape(copy, len, &why, &code))
		return true;
	return pg_parse_json(makeJsonLexContextCstringLen(copy, len, GetDatabaseEncoding(), false),
						 &nullSemAction) == JSON_SUCCESS;
}

/* An element that is not jsonb: refused, keeping its text. */
static void
batch_add_refused(BatchState *bs, char *elem, int len, int sqlerrcode, const char *why)
{
	EmitItem   *item = &bs->chunk[bs->n++];

	memset(item, 0, sizeof(EmitItem));
	item->source = bs->source;
	item->source_position = emit_source_position("index", bs->index);
	item->raw = elem;
	item->raw_len = len;
	item->raw_not_payload = true;
	emit_refuse(item, false, sqlerrcode, NULL, "batch element %d is not valid JSON: %s", bs->index, why);
	bs->index++;
	if (bs->n == EMIT_CHUNK)
		emit_batch_flush(bs);
}

/*
 * Malformed JSON: raise the error the server's parser gives for the whole
 * text (as the jsonb form's input would).  Every element before the fault
 * was well-formed, so the parser stops at the same place.
 */
static void
batch_syntax_error(text *events)
{
	pg_parse_json_or_ereport(makeJsonLexContext(events, true), &nullSemAction);
	elog(ERROR, "JSON text of emit_batch refused by the reader but not by the parser");
}

/*
 * Text that is not an array: an object is refused at once; anything else
 * is the parser's error when it is not JSON.
 */
void
emit_batch_not_an_array(text *events)
{
	JsonFastCursor c;

	c.p = VARDATA_ANY(events);
	c.end = c.p + VARSIZE_ANY_EXHDR(events);
	if (jsonfast_peek(&c) != '{')
		pg_parse_json_or_ereport(makeJsonLexContext(events, false), &nullSemAction);
	emit_batch_text_not_an_array();
}

void
emit_batch_text_not_an_array(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("events must be a JSON array of {\"type\": ..., \"payload\": ...} objects")));
}

void
EmitInit(void)
{
	RegistryInit();
	EventlogInit();
}
