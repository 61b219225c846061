/*
 * kafka_apply.c — a worker's consumers at work: collecting a batch of
 * messages, applying it with its offsets in one transaction (events through the
 * emit path, bad messages to the dead letters), and recording each
 * subscription's state and errors.
 *
 * Per-element isolation: the batch's messages are applied in one
 * subtransaction.  When it fails for a reason that belongs to an element
 * (a value too large for an index, an encoding or range error, a cast to a
 * projection's column, a message that alone outlasts
 * phoenix.kafka_statement_timeout), it is rolled back and the messages are
 * applied again one subtransaction each: the ones that fail are
 * dead-lettered with topic/partition/offset, reason and SQLSTATE, their
 * neighbours land, and the offsets move past them, so a poison message
 * never stalls its partition nor fails the worker on every restart.  Only
 * a server-wide failure (out of memory or disk, shutdown, a deadlock or
 * serialization failure) ends the batch, and then nothing of it is kept.
 *
 * Events go through emit_bulk with the extension owner's rights, as a
 * writer's emit_batch does; everything else the worker runs as
 * phoenix_kafka (kafka_worker.c, worker_become_role).
 */
#include "postgres.h"

#include "utils/resowner.h"

#include "kafka/kafka_worker_int.h"

static void apply_batch(Consumer *c);
static void apply_isolated(Consumer *c, rd_kafka_message_t **msgs, int *part, int n, int nparts,
						   int64 *accepted, int64 *dead);
static ErrorData *apply_in_subxact(Consumer *c, rd_kafka_message_t **msgs, int *part, int n,
								   int64 *accepted, int64 *dead);
static bool element_error(ErrorData *edata);
static void dead_letter_failed(Consumer *c, rd_kafka_message_t *msg, ErrorData *edata);
static Oid	ingest_owner(void);
static char *message_text(rd_kafka_message_t *msg);
static void apply_messages(Consumer *c, rd_kafka_message_t **msgs, int *part, int n,
						   int64 *accepted, int64 *dead);
static void apply_slice(Consumer *c, rd_kafka_message_t **msgs, int *part, int n,
						int64 *accepted, int64 *dead);
static const char *message_event_type(Consumer *c, rd_kafka_message_t *msg, const char *raw);
static char *header_text(rd_kafka_message_t *msg, const char *name);
static char *payload_field(const char *raw, int len, const char *field);
static bool json_parses(const char *raw, int len);
static void dead_letter(Consumer *c, rd_kafka_message_t *msg, const char *event_type,
						const char *reason, const char *sqlstate);
static void record_client_errors(Consumer *c);
static Datum int8_array(int64 *values, int n);
static char *message_position(Consumer *c, rd_kafka_message_t *msg);

static SPIPlanPtr plan_owner = NULL;

/*
 * Collect what the consumer has (no waiting) up to phoenix.kafka_batch_size
 * and apply it.  Returns whether anything was consumed.
 */
bool
consume_batch(Consumer *c)
{
	current_subscription = c->sub.name;
	if (c->maxpending < kafka_batch_size)
	{
		c->pending = repalloc(c->pending, sizeof(rd_kafka_message_t *) * kafka_batch_size);
		c->maxpending = kafka_batch_size;
	}
	while (c->npending < Min(c->maxpending, kafka_batch_size))
	{
		rd_kafka_message_t *msg = rd_kafka_consumer_poll(c->client->rk, 0);

		if (msg == NULL)
			break;
		if (msg->err)
		{
			rd_kafka_resp_err_t err = msg->err;

			rd_kafka_message_destroy(msg);
			if (err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
				continue;
			if (err == RD_KAFKA_RESP_ERR__FATAL || err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
				err == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED)
				kafka_report(c->client, err, psprintf("subscription \"%s\" cannot consume", c->sub.name));
			/* transient (broker down, ...): librdkafka retries; we record it */
			snprintf(c->client->last_error, sizeof(c->client->last_error), "%s", rd_kafka_err2str(err));
			continue;
		}
		c->pending[c->npending++] = msg;
	}
	if (c->failure)
		ReThrowError(c->failure);
	record_client_errors(c);
	if (c->npending == 0)
		return false;
	apply_batch(c);
	return true;
}

/*
 * One transaction: lock the group's offset rows of the batch's partitions,
 * skip what is already applied, emit the rest partition by partition, store
 * the new offsets and counters, commit.  Only then are the messages freed.
 */
static void
apply_batch(Consumer *c)
{
	int			nparts = 0;
	int32	   *parts = palloc(sizeof(int32) * c->npending);
	int		   *msg_part = palloc(sizeof(int) * c->npending);	/* index in parts[] */
	int		   *fill;
	int64	   *stored;
	int64	   *next;
	int64	   *hw;
	int64	   *accepted;
	int64	   *dead;
	rd_kafka_message_t **run;	/* the messages to apply */
	int		   *run_part;		/* their partitions' indexes in parts[] */
	int			nrun = 0;
	Datum		args[9];
	int			ret;
	MemoryContext batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "phoenix kafka batch",
													ALLOCSET_DEFAULT_SIZES);
	MemoryContext old;

	/*
	 * The batch's partitions, in order of first appearance.  librdkafka
	 * hands out each fetch response's messages of a partition together, so
	 * the previous message's partition is tried first.
	 */
	for (int i = 0, j = -1; i < c->npending; i++)
	{
		int32		p = c->pending[i]->partition;

		if (j < 0 || parts[j] != p)
		{
			for (j = 0; j < nparts && parts[j] != p; j++)
				;
			if (j == nparts)
				parts[nparts++] = p;
		}
		msg_part[i] = j;
	}
	stored = palloc(sizeof(int64) * nparts);
	next = palloc(sizeof(int64) * nparts);
	hw = palloc(sizeof(int64) * nparts);
	accepted = palloc0(sizeof(int64) * nparts);
	dead = palloc0(sizeof(int64) * nparts);

	pgstat_report_activity(STATE_RUNNING, psprintf("phoenix kafka: applying %d messages of subscription %s",
												   c->npending, c->sub.name));
	old = kafka_txn_begin();
	MemoryContextSwitchTo(batch_cxt);

	if (plan_offsets_init == NULL)
	{
		plan_subscription_lock = phoenix_prepare_kept("SELECT 1 FROM phoenix.kafka_subscriptions WHERE name = $1 FOR KEY SHARE",
													  1, (Oid[]) {TEXTOID}, "the subscription lock");
		plan_offsets_init = phoenix_prepare_kept("INSERT INTO phoenix.kafka_offsets (group_id, topic, partition, next_offset)"
									  " SELECT $1, $2, p, 0 FROM unnest($3::int[]) p"
									  " ON CONFLICT DO NOTHING",
									  3, (Oid[]) {TEXTOID, TEXTOID, INT4ARRAYOID}, "the offset initialisation");
		plan_offsets_lock = phoenix_prepare_kept("SELECT partition, next_offset FROM phoenix.kafka_offsets"
									  " WHERE group_id = $1 AND topic = $2 AND partition = ANY ($3)"
									  " ORDER BY partition FOR UPDATE",
									  3, (Oid[]) {TEXTOID, TEXTOID, INT4ARRAYOID}, "the offset lock");
		plan_offsets_store = phoenix_prepare_kept("UPDATE phoenix.kafka_offsets o SET next_offset = v.n, updated_at = now()"
									   " FROM unnest($3::int[], $4::bigint[]) v(p, n)"
									   " WHERE o.group_id = $1 AND o.topic = $2 AND o.partition = v.p"
									   "   AND v.n > o.next_offset",
									   4, (Oid[]) {TEXTOID, TEXTOID, INT4ARRAYOID, INT8ARRAYOID}, "the offset update");
		plan_stats = phoenix_prepare_kept("INSERT INTO phoenix.kafka_partition_stats AS s"
							   " (subscription, partition, high_watermark, accepted, dead_lettered, batches, rate, last_batch_at)"
							   " SELECT $1, v.p, v.hw, v.a, v.d, 1, NULL, now()"
							   "   FROM unnest($2::int[], $3::bigint[], $4::bigint[], $5::bigint[]) v(p, hw, a, d)"
							   " ON CONFLICT (subscription, partition) DO UPDATE SET"
							   "  high_watermark = greatest(s.high_watermark, excluded.high_watermark),"
							   "  accepted = s.accepted + excluded.accepted,"
							   "  dead_lettered = s.dead_lettered + excluded.dead_lettered,"
							   "  batches = s.batches + 1,"
							   "  rate = (excluded.accepted + excluded.dead_lettered)"
							   "         / greatest(extract(epoch FROM now() - s.last_batch_at), 0.001)"
							   "         * 0.3 + coalesce(s.rate, 0) * 0.7,"
							   "  last_batch_at = now()",
							   5, (Oid[]) {TEXTOID, INT4ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID}, "the partition counters");
	}
	/*
	 * The subscription's row first (drop_subscription deletes it before the
	 * offsets): a drop then waits for this batch, or this batch for the drop
	 * and finds the subscription gone, and the two never deadlock.
	 */
	args[0] = CStringGetTextDatum(c->sub.name);
	ret = SPI_execute_plan(plan_subscription_lock, args, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
	{
		/* dropped meanwhile: apply nothing; the reload stops the consumer */
		kafka_txn_commit(old);
		MemoryContextDelete(batch_cxt);
		drop_pending(c, NULL);
		return;
	}

	args[0] = CStringGetTextDatum(c->sub.group_id);
	args[1] = CStringGetTextDatum(c->sub.topic);
	args[2] = int4_array(parts, nparts);
	ret = SPI_execute_plan(plan_offsets_init, args, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	/* the row lock serializes members of one group on a partition */
	ret = SPI_execute_plan(plan_offsets_lock, args, NULL, false, 0);
	if (ret != SPI_OK_SELECT || SPI_processed != nparts)
		elog(ERROR, "could not lock the offsets of subscription \"%s\"", c->sub.name);
	for (int j = 0; j < nparts; j++)
	{
		bool		isnull;
		int32		p = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[j], SPI_tuptable->tupdesc, 1, &isnull));
		int64		v = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[j], SPI_tuptable->tupdesc, 2, &isnull));

		for (int k = 0; k < nparts; k++)
			if (parts[k] == p)
				stored[k] = v;
	}

	/*
	 * Messages arrive in offset order per partition.  The new ones of all
	 * partitions go to emit together, partition after partition, so that
	 * emit's fixed cost per call is paid per EMIT_SLICE messages rather
	 * than per partition (a batch of 5000 over 32 partitions has runs of
	 * about 150).
	 */
	run = palloc(sizeof(rd_kafka_message_t *) * c->npending);
	run_part = palloc(sizeof(int) * c->npending);
	/* a counting sort by partition, stable: fill[j] is where j's next goes */
	fill = palloc0(sizeof(int) * (nparts + 1));
	for (int i = 0; i < c->npending; i++)
		if (c->pending[i]->offset >= stored[msg_part[i]])
			fill[msg_part[i] + 1]++;
	for (int j = 0; j < nparts; j++)
	{
		fill[j + 1] += fill[j];
		next[j] = stored[j];
	}
	nrun = fill[nparts];
	for (int i = 0; i < c->npending; i++)
	{
		int			j = msg_part[i];

		if (c->pending[i]->offset < stored[j])
			continue;
		next[j] = c->pending[i]->offset + 1;
		run_part[fill[j]] = j;
		run[fill[j]++] = c->pending[i];
	}
	apply_isolated(c, run, run_part, nrun, nparts, accepted, dead);
	for (int j = 0; j < nparts; j++)
	{
		int64		lo;

		if (rd_kafka_get_watermark_offsets(c->client->rk, c->sub.topic, parts[j], &lo, &hw[j]) != RD_KAFKA_RESP_ERR_NO_ERROR)
			hw[j] = next[j];
		hw[j] = Max(hw[j], next[j]);
	}

	args[3] = int8_array(next, nparts);
	ret = SPI_execute_plan(plan_offsets_store, args, NULL, false, 0);
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	args[0] = CStringGetTextDatum(c->sub.name);
	args[1] = int4_array(parts, nparts);
	args[2] = int8_array(hw, nparts);
	args[3] = int8_array(accepted, nparts);
	args[4] = int8_array(dead, nparts);
	ret = SPI_execute_plan(plan_stats, args, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));

	kafka_txn_commit(old);
	MemoryContextDelete(batch_cxt);

	for (int i = 0; i < c->npending; i++)
		rd_kafka_message_destroy(c->pending[i]);
	c->npending = 0;

	/* a good batch ends the backoff series */
	if (kafka_shared->slots[kafka_worker_slot].failures != 0)
	{
		LWLockAcquire(kafka_shared->lock, LW_EXCLUSIVE);
		kafka_shared->slots[kafka_worker_slot].failures = 0;
		LWLockRelease(kafka_shared->lock);
	}
}

/*
 * The messages of a batch, together in a subtransaction (the fast path);
 * if that fails for an element's reason, one subtransaction each, a failing
 * one dead-lettered.  Each attempt has its own statement timeout.  Outcomes
 * are added to accepted[] and dead[] (per partition) only for attempts that
 * committed.
 */
static void
apply_isolated(Consumer *c, rd_kafka_message_t **msgs, int *part, int n, int nparts,
			   int64 *accepted, int64 *dead)
{
	int64	   *acc = palloc0(sizeof(int64) * nparts);
	int64	   *dd = palloc0(sizeof(int64) * nparts);
	ErrorData  *edata;

	if (n == 0)
		return;
	edata = apply_in_subxact(c, msgs, part, n, acc, dd);
	if (edata == NULL)
	{
		for (int j = 0; j < nparts; j++)
			accepted[j] += acc[j], dead[j] += dd[j];
		return;
	}
	ereport(LOG,
			(errmsg("phoenix kafka: a batch of %d messages of subscription \"%s\" failed; applying them one by one",
					n, c->sub.name),
			 errdetail("%s (SQLSTATE %s)", edata->message, unpack_sql_state(edata->sqlerrcode))));
	FreeErrorData(edata);
	for (int i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		memset(acc, 0, sizeof(int64) * nparts);
		memset(dd, 0, sizeof(int64) * nparts);
		kafka_timeout_arm();
		edata = apply_in_subxact(c, &msgs[i], &part[i], 1, acc, dd);
		if (edata != NULL)
		{
			dead_letter_failed(c, msgs[i], edata);
			FreeErrorData(edata);
			dead[part[i]]++;
			continue;
		}
		accepted[part[i]] += acc[part[i]];
		dead[part[i]] += dd[part[i]];
	}
	/* what follows (offsets, counters) gets a timeout of its own */
	kafka_timeout_arm();
}

/*
 * apply_messages in a subtransaction: NULL when it committed, else the
 * error (in the caller's context) after rolling it back — re-thrown at
 * once when it is not an element's (element_error).
 */
static ErrorData *
apply_in_subxact(Consumer *c, rd_kafka_message_t **msgs, int *part, int n,
				 int64 *accepted, int64 *dead)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		apply_messages(c, msgs, part, n, accepted, dead);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		/* the slice's garbage (apply_messages resets it only on success) */
		if (emit_cxt != NULL)
			MemoryContextReset(emit_cxt);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	if (edata != NULL && !element_error(edata))
		ReThrowError(edata);
	return edata;
}

/*
 * Whether an error belongs to the elements being applied rather than to
 * the server or the moment (the same classes emit's own isolation treats
 * as server-wide): not a connection or transaction state error (08, 25), a
 * deadlock or serialization failure (40), a privilege or schema error (42),
 * out of memory or disk (53), an object in use or a lock not available
 * (55), a shutdown or a cancel (57, except our own statement timeout), an
 * I/O or configuration error (58, F0), or corruption.  Those end the batch
 * (a later attempt may not meet them); dead-lettering every message for
 * them would lose the stream.
 */
static bool
element_error(ErrorData *edata)
{
	if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
		return kafka_timeout_expired();
	switch (ERRCODE_TO_CATEGORY(edata->sqlerrcode))
	{
		case ERRCODE_TO_CATEGORY(ERRCODE_CONNECTION_EXCEPTION):
		case ERRCODE_TO_CATEGORY(ERRCODE_INVALID_TRANSACTION_STATE):
		case ERRCODE_TO_CATEGORY(ERRCODE_TRANSACTION_ROLLBACK):
		case ERRCODE_TO_CATEGORY(ERRCODE_SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION):
		case ERRCODE_TO_CATEGORY(ERRCODE_INSUFFICIENT_RESOURCES):
		case ERRCODE_TO_CATEGORY(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE):
		case ERRCODE_TO_CATEGORY(ERRCODE_OPERATOR_INTERVENTION):
		case ERRCODE_TO_CATEGORY(ERRCODE_SYSTEM_ERROR):
		case ERRCODE_TO_CATEGORY(ERRCODE_CONFIG_FILE_ERROR):
			return false;
		default:
			return edata->sqlerrcode != ERRCODE_DATA_CORRUPTED &&
				edata->sqlerrcode != ERRCODE_INDEX_CORRUPTED;
	}
}

/* A message whose own writes failed: a dead letter with the error. */
static void
dead_letter_failed(Consumer *c, rd_kafka_message_t *msg, ErrorData *edata)
{
	char	   *raw = message_text(msg);
	const char *reason = edata->sqlerrcode == ERRCODE_QUERY_CANCELED
		? psprintf("the message took longer than phoenix.kafka_statement_timeout (%d ms)",
				   kafka_statement_timeout)
		: edata->message;

	dead_letter(c, msg, message_event_type(c, msg, raw), reason, unpack_sql_state(edata->sqlerrcode));
}

/*
 * The role emit_bulk runs as: the extension's owner, as for a writer's
 * emit_batch (SECURITY DEFINER).  The worker's own statements run as
 * phoenix_kafka.
 */
static Oid
ingest_owner(void)
{
	bool		isnull;
	int			ret;

	if (plan_owner == NULL)
		plan_owner = phoenix_prepare_kept("SELECT extowner FROM pg_catalog.pg_extension WHERE extname = 'phoenix'",
										  0, NULL, "the extension owner");
	ret = SPI_execute_plan(plan_owner, NULL, NULL, true, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "extension phoenix is not installed");
	return DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Emit messages (in offset order per partition), EMIT_SLICE at a time, each
 * slice in emit_cxt (reset after it; see EMIT_SLICE).  part[i] is the index
 * of message i's partition in accepted[] and dead[], which count outcomes.
 */
static void
apply_messages(Consumer *c, rd_kafka_message_t **msgs, int *part, int n,
			   int64 *accepted, int64 *dead)
{
	if (emit_cxt == NULL)
		emit_cxt = AllocSetContextCreate(worker_cxt, "phoenix kafka emit",
										 EMIT_CXT_KEEP, ALLOCSET_DEFAULT_INITSIZE,
										 ALLOCSET_DEFAULT_MAXSIZE);
	for (int off = 0; off < n; off += EMIT_SLICE)
	{
		MemoryContext old = MemoryContextSwitchTo(emit_cxt);

		apply_slice(c, msgs + off, part + off, Min(EMIT_SLICE, n - off), accepted, dead);
		MemoryContextSwitchTo(old);
		MemoryContextReset(emit_cxt);
	}
}

/*
 * Messages that cannot be events at all (no value, too large, not text) are
 * dead-lettered here; the rest go to emit_bulk, which validates and
 * dead-letters the others and marks them rejected.
 */
static void
apply_slice(Consumer *c, rd_kafka_message_t **msgs, int *part, int n,
			int64 *accepted, int64 *dead)
{
	EmitInput  *inputs = palloc0(sizeof(EmitInput) * n);
	int		   *input_part = palloc(sizeof(int) * n);
	int			ninputs = 0;
	int			max_bytes = c->sub.max_bytes > 0 ? c->sub.max_bytes : kafka_max_message_bytes;
	Oid			save_userid;
	int			save_sec_context;

	for (int i = 0; i < n; i++)
	{
		rd_kafka_message_t *m = msgs[i];
		EmitInput  *in = &inputs[ninputs];
		char	   *raw;

		CHECK_FOR_INTERRUPTS();
		if (m->payload == NULL)
		{
			dead_letter(c, m, message_event_type(c, m, NULL), "message has no value (a tombstone)", "22004");
			dead[part[i]]++;
			continue;
		}
		if (m->len > (size_t) max_bytes)
		{
			dead_letter(c, m, message_event_type(c, m, NULL),
						psprintf("message of %zu bytes exceeds the limit of %d bytes", m->len, max_bytes),
						"54000");
			dead[part[i]]++;
			continue;
		}
		/* text: no NUL inside, valid in the database encoding */
		if (memchr(m->payload, '\0', m->len) != NULL ||
			!pg_verifymbstr(m->payload, m->len, true))
		{
			dead_letter(c, m, message_event_type(c, m, NULL),
						psprintf("message is not valid %s text", GetDatabaseEncodingName()), "22021");
			dead[part[i]]++;
			continue;
		}
		raw = message_text(m);
		in->raw = raw;
		in->raw_len = m->len;
		in->event_type = message_event_type(c, m, raw);
		if (in->event_type == NULL && c->sub.type_field && !json_parses(raw, m->len))
		{
			/* the type was to come from the payload, which is not JSON */
			dead_letter(c, m, NULL, "message is not valid JSON", "22P02");
			dead[part[i]]++;
			continue;
		}
		/* without one, emit makes an id that names the event's log position */
		in->event_id = c->sub.id_header ? header_text(m, c->sub.id_header) : NULL;
		in->source = c->source;
		in->source_position = message_position(c, m);
		input_part[ninputs++] = part[i];
	}
	if (ninputs == 0)
		return;
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(ingest_owner(), save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	(void) emit_bulk(inputs, ninputs);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	for (int i = 0; i < ninputs; i++)
	{
		if (inputs[i].rejected)
			dead[input_part[i]]++;
		else
			accepted[input_part[i]]++;
	}
}

/* The event type of a message: header, then payload field, then the fixed one. */
static const char *
message_event_type(Consumer *c, rd_kafka_message_t *msg, const char *raw)
{
	char	   *t;

	if (c->sub.type_header && (t = header_text(msg, c->sub.type_header)) != NULL)
		return t;
	if (c->sub.type_field && raw && (t = payload_field(raw, msg->len, c->sub.type_field)) != NULL)
		return t;
	return c->sub.event_type;
}

/* The last value of a header as text, or NULL (absent, null or not text). */
static char *
header_text(rd_kafka_message_t *msg, const char *name)
{
	rd_kafka_headers_t *hdrs;
	const void *val;
	size_t		size;
	char	   *s;

	if (rd_kafka_message_headers(msg, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
		rd_kafka_header_get_last(hdrs, name, &val, &size) != RD_KAFKA_RESP_ERR_NO_ERROR ||
		val == NULL || size == 0)
		return NULL;
	s = pnstrdup(val, size);
	if (strlen(s) != size || !pg_verifymbstr(s, size, true))
		return NULL;
	return s;
}

/*
 * A top-level string field of a JSON object, found with the server's JSON
 * lexer (no jsonb is built; emit parses the payload once more anyway).
 * NULL when the text is not JSON or the field is absent or not a string.
 */
typedef struct FieldSearch
{
	const char *field;
	int			depth;
	bool		in_field;
	char	   *value;
} FieldSearch;

static void
field_object_start(void *state)
{
	((FieldSearch *) state)->depth++;
}

static void
field_object_end(void *state)
{
	((FieldSearch *) state)->depth--;
}

static void
field_start(void *state, char *fname, bool isnull)
{
	FieldSearch *fs = (FieldSearch *) state;

	fs->in_field = fs->depth == 1 && strcmp(fname, fs->field) == 0;
}

static void
field_scalar(void *state, char *token, JsonTokenType tokentype)
{
	FieldSearch *fs = (FieldSearch *) state;

	if (fs->in_field && fs->value == NULL && tokentype == JSON_TOKEN_STRING)
		fs->value = token;
	fs->in_field = false;
}

static bool
json_parses(const char *raw, int len)
{
	JsonSemAction sem;

	memset(&sem, 0, sizeof(sem));
	return pg_parse_json(makeJsonLexContextCstringLen((char *) raw, len, GetDatabaseEncoding(), false),
						 &sem) == JSON_SUCCESS;
}

static char *
payload_field(const char *raw, int len, const char *field)
{
	FieldSearch fs = {field, 0, false, NULL};
	JsonSemAction sem;
	JsonLexContext *lex;

	memset(&sem, 0, sizeof(sem));
	sem.semstate = &fs;
	sem.object_start = field_object_start;
	sem.object_end = field_object_end;
	sem.object_field_start = field_start;
	sem.scalar = field_scalar;
	lex = makeJsonLexContextCstringLen((char *) raw, len, GetDatabaseEncoding(), true);
	if (pg_parse_json(lex, &sem) != JSON_SUCCESS)
		return NULL;
	return fs.value;
}

/* The value as a NUL-terminated string (NULL for a tombstone). */
static char *
message_text(rd_kafka_message_t *msg)
{
	char	   *raw;

	if (msg->payload == NULL)
		return NULL;
	raw = palloc(msg->len + 1);
	memcpy(raw, msg->payload, msg->len);
	raw[msg->len] = '\0';
	return raw;
}

/*
 * A message that cannot even be offered to emit: into phoenix.dead_letters
 * with the reason, its topic/partition/offset and as much of the raw value
 * as is text (an oversized value is cut to its first kilobyte).
 */
static void
dead_letter(Consumer *c, rd_kafka_message_t *msg, const char *event_type,
			const char *reason, const char *sqlstate)
{
	Datum		args[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	StringInfoData raw;
	int			ret;

	if (plan_dead_letter == NULL)
		plan_dead_letter = phoenix_prepare_kept("INSERT INTO phoenix.dead_letters"
									 " (event_type, event_id, raw, reason, sqlstate, source, source_position)"
									 " VALUES ($1, $2, $3, $4, $5, $6, $7)",
									 7, (Oid[]) {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID}, "the Kafka dead letter insert");
	initStringInfo(&raw);
	if (msg->payload != NULL)
	{
		size_t		keep = Min(msg->len, 1024);
		char	   *s = pnstrdup(msg->payload, keep);

		if (strlen(s) == keep && pg_verifymbstr(s, keep, true))
			appendBinaryStringInfo(&raw, s, keep);
		else
		{
			/* not text: keep it as bytea-style hex */
			appendStringInfoString(&raw, "\\x");
			for (size_t i = 0; i < Min(msg->len, 512); i++)
				appendStringInfo(&raw, "%02x", ((unsigned char *) msg->payload)[i]);
		}
	}
	args[0] = event_type ? CStringGetTextDatum(event_type) : (Datum) 0;
	nulls[0] = event_type ? ' ' : 'n';
	if (c->sub.id_header && header_text(msg, c->sub.id_header))
		args[1] = CStringGetTextDatum(header_text(msg, c->sub.id_header));
	else
		nulls[1] = 'n';
	args[2] = CStringGetTextDatum(raw.data);
	args[3] = CStringGetTextDatum(reason);
	args[4] = CStringGetTextDatum(sqlstate);
	args[5] = CStringGetTextDatum(c->source);
	args[6] = CStringGetTextDatum(message_position(c, msg));
	ret = SPI_execute_plan(plan_dead_letter, args, nulls, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
}

/*
 * Broker errors librdkafka reported (and retries by itself) go to the
 * status view, at most every phoenix.kafka_error_interval.
 */
static void
record_client_errors(Consumer *c)
{
	TimestampTz now;

	if (c->client->last_error[0] == '\0')
		return;
	now = GetCurrentTimestamp();
	if (c->error_recorded_at != 0 &&
		!TimestampDifferenceExceeds(c->error_recorded_at, now, kafka_error_interval * 1000))
		return;
	record_state(c->sub.name, c->client->last_error, false, NULL);
	c->error_recorded_at = now;
	c->client->last_error[0] = '\0';
}

/*
 * Upsert the subscription's state row in its own short transaction (not
 * inside a batch: an error must be recorded even when the batch failed).
 */
void
record_state(const char *subscription, const char *error, bool with_assignment,
			 rd_kafka_topic_partition_list_t *assignment)
{
	Datum		args[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	int32	   *ids = NULL;
	int			n = assignment ? assignment->cnt : 0;
	int			ret;
	char		redacted[1024];
	MemoryContext old = CurrentMemoryContext;

	PG_TRY();
	{
		(void) kafka_txn_begin();
		if (plan_state == NULL)
			plan_state = phoenix_prepare_kept("INSERT INTO phoenix.kafka_subscription_state AS s"
								   " (subscription, last_error, last_error_at, assigned, assigned_at, worker_role)"
								   " SELECT name, $2, CASE WHEN $2 IS NOT NULL THEN now() END,"
								   "        CASE WHEN $3 THEN $4 END, CASE WHEN $3 THEN now() END, current_user"
								   "   FROM phoenix.kafka_subscriptions WHERE name = $1"
								   " ON CONFLICT (subscription) DO UPDATE SET"
								   "  worker_role = excluded.worker_role,"
								   "  last_error = coalesce(excluded.last_error, s.last_error),"
								   "  last_error_at = coalesce(excluded.last_error_at, s.last_error_at),"
								   "  assigned = CASE WHEN $3 THEN excluded.assigned ELSE s.assigned END,"
								   "  assigned_at = CASE WHEN $3 THEN excluded.assigned_at ELSE s.assigned_at END",
								   4, (Oid[]) {TEXTOID, TEXTOID, BOOLOID, INT4ARRAYOID}, "the subscription state");
		ids = palloc(sizeof(int32) * Max(1, n));
		for (int i = 0; i < n; i++)
			ids[i] = assignment->elems[i].partition;
		args[0] = CStringGetTextDatum(subscription);
		if (error != NULL)
		{
			/* library text may quote credentials; readers see this column */
			strlcpy(redacted, error, sizeof(redacted));
			kafka_redact(redacted, sizeof(redacted), NULL, 0);
		}
		args[1] = error ? CStringGetTextDatum(redacted) : (Datum) 0;
		nulls[1] = error ? ' ' : 'n';
		args[2] = BoolGetDatum(with_assignment);
		args[3] = int4_array(ids, n);
		ret = SPI_execute_plan(plan_state, args, nulls, false, 0);
		if (ret != SPI_OK_INSERT)
			elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
		kafka_txn_commit(old);
	}
	PG_CATCH();
	{
		/* the state is informative: log and go on rather than loop on errors */
		kafka_timeout_disarm();
		MemoryContextSwitchTo(old);
		EmitErrorReport();
		FlushErrorState();
		AbortOutOfAnyTransaction();
		MemoryContextSwitchTo(old);
	}
	PG_END_TRY();
}

Datum
int4_array(int32 *values, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(1, n));

	for (int i = 0; i < n; i++)
		d[i] = Int32GetDatum(values[i]);
	return PointerGetDatum(construct_array(d, n, INT4OID, 4, true, TYPALIGN_INT));
}

static Datum
int8_array(int64 *values, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(1, n));

	for (int i = 0; i < n; i++)
		d[i] = Int64GetDatum(values[i]);
	return PointerGetDatum(construct_array(d, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

void
drain_pipe(void)
{
	char		buf[256];

	while (read(wake_pipe[0], buf, sizeof(buf)) > 0)
		;
}

/*
 * "topic/partition/offset", the source position of a message (without
 * psprintf's format parsing: this runs for every message).
 */
static char *
message_position(Consumer *c, rd_kafka_message_t *msg)
{
	int			topic_len = c->topic_len;
	char	   *out = palloc(topic_len + 2 * (MAXINT8LEN + 1) + 1);
	char	   *o = out + topic_len;

	memcpy(out, c->sub.topic, topic_len);
	*o++ = '/';
	o += pg_ltoa(msg->partition, o);
	*o++ = '/';
	o += pg_lltoa(msg->offset, o);
	*o = '\0';
	return out;
}
