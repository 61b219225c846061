/*
 * kafka_publish.c — publications: every change of a projection row goes to
 * an outbox in the changing transaction (a row trigger on the reporting
 * table), and the database's Kafka worker sends the outbox to a topic.
 *
 * Delivery is at least once, in commit order per key: the worker reads the
 * oldest outbox rows, produces them keyed by the row's key (event_id, or the
 * latest key) with the idempotent producer (so retries neither reorder nor
 * repeat within a partition), waits for the brokers' acknowledgements, and
 * only then deletes those rows.  A crash between sending and deleting sends
 * them again; each message carries its outbox position in the header
 * "phoenix-outbox-position" so consumers can drop what they have seen.
 * Rows of one key are written under that row's lock, so their positions
 * follow commit order; rows are never skipped, whatever order other keys'
 * transactions commit in, because the outbox is a queue, not a cursor.
 *
 * The worker never waits for the brokers: a batch is produced and left in
 * flight, and each round of the worker's loop collects its acknowledgements
 * (librdkafka writes to the worker's wake-up pipe when they arrive), so a
 * publication whose brokers do not answer delays only itself, never the
 * subscriptions of its database.  After phoenix.kafka_timeout the batch is
 * purged and sent again later.
 */
#include "postgres.h"

#include "common/guc.h"
#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "catalog/namespace.h"
#include "nodes/makefuncs.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "forget/forget.h"
#include "kafka/kafka.h"
#include "kafka/kafka_publish.h"
#include "kafka/kafka_worker.h"
#include "common/phoenix.h"
#include "common/plan.h"
#include "projection/projection.h"

/* One outbox row on its way. */
typedef struct OutboxRow
{
	int64		position;
	char	   *key;
	char	   *op;
	char	   *row;			/* NULL for delete */
	char		position_text[24];
} OutboxRow;

/* A publication as the worker runs it. */
typedef struct Publisher
{
	MemoryContext cxt;			/* deleting it destroys the producer */
	int32		id;
	char	   *projection;
	char	   *topic;
	char	   *fingerprint;
	KafkaClient *client;
	int			delivered;		/* acknowledgements of the current batch */
	int			failed;			/* failures of the current batch */
	MemoryContext batch_cxt;	/* the batch in flight */
	OutboxRow  *inflight;		/* its rows, oldest first */
	int			ninflight;		/* 0: no batch in flight */
	TimestampTz sent_at;
	char		error[512];
	TimestampTz next_check;		/* look at the outbox again (fallback timer) */
	bool		more;			/* the last batch was full */
} Publisher;

#define PUBLISH_BATCH 5000
#define PUBLISH_CHECK_MS 1000
#define PUBLISH_RETRY_MS 1000

static List *publishers = NIL;	/* Publisher *, in the worker */
static SPIPlanPtr plan_capture = NULL;
static SPIPlanPtr plan_read = NULL;
static SPIPlanPtr plan_delete = NULL;
static SPIPlanPtr plan_state = NULL;

PG_FUNCTION_INFO_V1(phoenix_create_publication);
PG_FUNCTION_INFO_V1(phoenix_drop_publication);
PG_FUNCTION_INFO_V1(phoenix_kafka_outbox_capture);

static Publisher *publisher_try_start(MemoryContext parent, int32 id, const char *projection,
									  const char *topic, const char *brokers, Jsonb *options,
									  const char *fingerprint, int wake_fd);
static Publisher *publisher_start(MemoryContext cxt, int32 id, const char *projection,
								  const char *topic, const char *brokers, Jsonb *options,
								  const char *fingerprint, int wake_fd);
static void prepare_state_plans(void);
static void record_error(int32 id, const char *error);
static void record_state(int32 id, int64 sent, int64 last_position, const char *error);
static void delivery_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque);
static bool publish_send(Publisher *p);
static bool publish_collect(Publisher *p);
static int	read_outbox(Publisher *p, OutboxRow **rows);
static int	produce_rows(Publisher *p, OutboxRow *rows, int n);
static void finish_batch(Publisher *p, OutboxRow *rows, int n, const char *error);
static void end_inflight(Publisher *p);

/*
 * create_publication(projection, topic, brokers, options) → publication id.
 * Installs the capture triggers on the projection's reporting table; from
 * the commit on, every change of a row is sent.
 */
Datum
phoenix_create_publication(PG_FUNCTION_ARGS)
{
	char	   *projection = phx_text_arg(fcinfo, 0);
	char	   *topic = phx_text_arg(fcinfo, 1);
	char	   *brokers = phx_text_arg(fcinfo, 2);
	Jsonb	   *options = phx_jsonb_arg(fcinfo, 3);
	char	   *what;
	Projection *proj;
	char	   *key_column,
			   *qualified;
	Oid			argtypes[5] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID};
	Datum		values[5];
	bool		isnull;
	int32		id;
	int			ret;

	if (projection == NULL || topic == NULL || brokers == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("create_publication needs a projection, a topic and brokers")));
	what = psprintf("publication of projection \"%s\" to topic \"%s\"", projection, topic);
	kafka_check_topic(topic, what);
	rd_kafka_conf_destroy(kafka_make_conf(brokers, kafka_options_from_jsonb(options, what, true), what));

	SPI_connect();
	values[0] = CStringGetTextDatum(projection);
	proj = projection_lookup(projection);
	if (proj == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("projection \"%s\" does not exist", projection),
				 errhint("Create it with phoenix.create_projection first.")));
	key_column = proj->pk_column;
	qualified = proj->table;

	values[1] = CStringGetTextDatum(topic);
	ret = SPI_execute_with_args("SELECT 1 FROM phoenix.kafka_publications WHERE projection = $1 AND topic = $2",
								2, argtypes, values, NULL, true, 1);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("projection \"%s\" is already published to topic \"%s\"", projection, topic)));

	values[2] = CStringGetTextDatum(brokers);
	values[3] = CStringGetTextDatum(key_column);
	values[4] = options ? JsonbPGetDatum(options) : DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"));
	ret = SPI_execute_with_args(psprintf("INSERT INTO phoenix.kafka_publications"
										 " (projection, table_name, key_column, topic, brokers, options)"
										 " VALUES ($1, %s::regclass, $4, $2, $3, $5) RETURNING publication_id",
										 quote_literal_cstr(qualified)),
								5, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

	/* an UPDATE that changes nothing is no change to publish */
	ret = SPI_execute(psprintf("CREATE TRIGGER %s AFTER INSERT OR DELETE ON %s FOR EACH ROW"
							   " EXECUTE FUNCTION phoenix.kafka_outbox_capture('%d', %s)",
							   quote_identifier(psprintf("phoenix_publish_%d", id)), qualified,
							   id, quote_literal_cstr(key_column)), false, 0);
	if (ret != SPI_OK_UTILITY)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
	ret = SPI_execute(psprintf("CREATE TRIGGER %s AFTER UPDATE ON %s FOR EACH ROW"
							   " WHEN (OLD.* IS DISTINCT FROM NEW.*)"
							   " EXECUTE FUNCTION phoenix.kafka_outbox_capture('%d', %s)",
							   quote_identifier(psprintf("phoenix_publish_%d_update", id)), qualified,
							   id, quote_literal_cstr(key_column)), false, 0);
	if (ret != SPI_OK_UTILITY)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
	SPI_finish();
	if (!kafka_worker_available())
		ereport(WARNING,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s will not be sent: phoenix is not in shared_preload_libraries", what),
				 errhint("Add phoenix to shared_preload_libraries in postgresql.conf and restart the server.")));
	PG_RETURN_INT32(id);
}

/* drop_publication(projection, topic, if_exists): triggers and outbox go. */
Datum
phoenix_drop_publication(PG_FUNCTION_ARGS)
{
	char	   *projection = phx_text_arg(fcinfo, 0);
	char	   *topic = phx_text_arg(fcinfo, 1);
	bool		if_exists = !PG_ARGISNULL(2) && PG_GETARG_BOOL(2);
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	int			ret;

	if (projection == NULL || topic == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("drop_publication needs a projection and a topic")));
	values[0] = CStringGetTextDatum(projection);
	values[1] = CStringGetTextDatum(topic);
	SPI_connect();
	ret = SPI_execute_with_args("DELETE FROM phoenix.kafka_publications WHERE projection = $1 AND topic = $2"
								" RETURNING publication_id, table_name::text,"
								"  to_regclass(table_name::text) IS NOT NULL",
								2, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_DELETE_RETURNING)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0 && !if_exists)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("projection \"%s\" is not published to topic \"%s\"", projection, topic),
				 errhint("See phoenix.publication_status for the publications of this database.")));
	if (SPI_processed > 0)
	{
		HeapTuple	tup = SPI_copytuple(SPI_tuptable->vals[0]);
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *id = SPI_getvalue(tup, desc, 1);
		char	   *table = SPI_getvalue(tup, desc, 2);

		/* the table may be gone with its projection, and its triggers with it */
		if (strcmp(SPI_getvalue(tup, desc, 3), "t") == 0)
		{
			SPI_execute(psprintf("DROP TRIGGER IF EXISTS %s ON %s",
								 quote_identifier(psprintf("phoenix_publish_%s", id)), table), false, 0);
			SPI_execute(psprintf("DROP TRIGGER IF EXISTS %s ON %s",
								 quote_identifier(psprintf("phoenix_publish_%s_update", id)), table), false, 0);
		}
	}
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * Row trigger on a published reporting table: one outbox row per change,
 * in the changing transaction (plan prepared once per backend).  At commit
 * the worker is woken.
 */
Datum
phoenix_kafka_outbox_capture(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	tuple;
	const char *op;
	int			keyno;
	char	   *key;
	Datum		args[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	int			ret;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		!TRIGGER_FIRED_AFTER(td->tg_event) || td->tg_trigger->tgnargs != 2)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("phoenix.kafka_outbox_capture() must be an AFTER ROW trigger with a publication id and a key column")));
	desc = RelationGetDescr(td->tg_relation);
	if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
		tuple = td->tg_trigtuple, op = "delete";
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		tuple = td->tg_newtuple, op = "update";
	else
		tuple = td->tg_trigtuple, op = "insert";

	keyno = SPI_fnumber(desc, td->tg_trigger->tgargs[1]);
	if (keyno <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("published table \"%s\" has no key column \"%s\"",
						RelationGetRelationName(td->tg_relation), td->tg_trigger->tgargs[1]),
				 errhint("Drop and re-create the publication.")));
	key = SPI_getvalue(tuple, desc, keyno);
	if (key == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("published row of \"%s\" has no key in column \"%s\"",
						RelationGetRelationName(td->tg_relation), td->tg_trigger->tgargs[1])));

	SPI_connect();
	if (plan_capture == NULL)
		plan_capture = phoenix_prepare_kept("INSERT INTO phoenix.kafka_outbox (publication_id, key, op, row)"
									" VALUES ($1, $2, $3, $4)",
									4, (Oid[]) {INT4OID, TEXTOID, TEXTOID, JSONOID}, "the outbox capture");
	args[0] = Int32GetDatum(pg_strtoint32(td->tg_trigger->tgargs[0]));
	args[1] = CStringGetTextDatum(key);
	args[2] = CStringGetTextDatum(op);
	if (strcmp(op, "delete") == 0)
		nulls[3] = 'n';
	else
		args[3] = DirectFunctionCall1(row_to_json, heap_copy_tuple_as_datum(tuple, desc));
	ret = SPI_execute_plan(plan_capture, args, nulls, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	SPI_finish();
	kafka_notify_worker(false);
	return PointerGetDatum(NULL);
}

/* ------------------------------------------------------------ the worker */

/*
 * Inside the worker's reload transaction: start producers for new or
 * changed publications, stop those gone.  Returns whether any is enabled.
 */
bool
publish_reload(MemoryContext cxt, int wake_fd)
{
	List	   *kept = NIL;
	List	   *fresh = NIL;
	ListCell   *lc;
	int			ret;
	SPITupleTable *table;
	uint64		nrows;
	MemoryContext old;

	if (!OidIsValid(get_relname_relid("kafka_publications", get_namespace_oid(PHOENIX_SCHEMA, true))))
		return false;
	SPI_connect();
	ret = SPI_execute("SELECT publication_id, projection, topic, brokers, options, md5(row(p.*)::text)"
					  " FROM phoenix.kafka_publications p WHERE enabled ORDER BY publication_id",
					  true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
	/* kept: recording a publication that cannot start runs statements */
	table = SPI_tuptable;
	nrows = SPI_processed;
	old = MemoryContextSwitchTo(cxt);
	for (uint64 i = 0; i < nrows; i++)
	{
		HeapTuple	tup = table->vals[i];
		TupleDesc	desc = table->tupdesc;
		char	   *fingerprint = SPI_getvalue(tup, desc, 6);
		Publisher  *running = NULL;
		bool		isnull;

		foreach(lc, publishers)
			if (strcmp(((Publisher *) lfirst(lc))->fingerprint, fingerprint) == 0)
				running = (Publisher *) lfirst(lc);
		if (running == NULL)
			running = publisher_try_start(cxt,
										  DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull)),
										  SPI_getvalue(tup, desc, 2), SPI_getvalue(tup, desc, 3),
										  SPI_getvalue(tup, desc, 4),
										  DatumGetJsonbP(SPI_getbinval(tup, desc, 5, &isnull)),
										  fingerprint, wake_fd);
		if (running != NULL)
			fresh = lappend(fresh, running);
	}
	foreach(lc, publishers)
	{
		Publisher  *p = (Publisher *) lfirst(lc);

		if (list_member_ptr(fresh, p))
			kept = lappend(kept, p);
		else
			MemoryContextDelete(p->cxt);
	}
	list_free(publishers);
	list_free(kept);
	publishers = fresh;
	MemoryContextSwitchTo(old);
	SPI_finish();
	return publishers != NIL;
}

/*
 * Start a publication's producer in a subtransaction of the reload.  When
 * that fails (options written into the catalog directly that Phoenix
 * refuses, brokers librdkafka cannot read), the reason goes to
 * publication_status and the rest of the worker runs on: one bad row never
 * stops it.  It is tried again at the next configuration change.
 */
static Publisher *
publisher_try_start(MemoryContext parent, int32 id, const char *projection, const char *topic,
					const char *brokers, Jsonb *options, const char *fingerprint, int wake_fd)
{
	MemoryContext caller = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	MemoryContext cxt = AllocSetContextCreate(parent, "phoenix kafka publisher", ALLOCSET_SMALL_SIZES);
	Publisher  *volatile p = NULL;
	ErrorData  *volatile edata = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(caller);
	PG_TRY();
	{
		p = publisher_start(cxt, id, projection, topic, brokers, options, fingerprint, wake_fd);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(caller);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(caller);
	CurrentResourceOwner = owner;
	if (edata == NULL)
		return p;
	MemoryContextDelete(cxt);
	ereport(LOG,
			(errmsg("phoenix kafka: publication %d cannot start: %s", id, edata->message)));
	record_error(id, edata->message);
	FreeErrorData(edata);
	return NULL;
}

/* A producer in its own context `cxt` (the client dies with it). */
static Publisher *
publisher_start(MemoryContext cxt, int32 id, const char *projection, const char *topic,
				const char *brokers, Jsonb *options, const char *fingerprint, int wake_fd)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	Publisher  *p = palloc0(sizeof(Publisher));
	char	   *what = psprintf("publication of projection \"%s\" to topic \"%s\"", projection, topic);
	List	   *opts;
	rd_kafka_conf_t *conf;

	p->cxt = cxt;
	p->id = id;
	p->projection = pstrdup(projection);
	p->topic = pstrdup(topic);
	p->fingerprint = pstrdup(fingerprint);
	/* our default first, so that the publication's options override it */
	opts = list_make1(makeDefElem("linger.ms", (Node *) makeString("5"), -1));
	opts = list_concat(opts, kafka_options_from_jsonb(options, what, false));
	conf = kafka_make_conf(brokers, opts, what);
	/* idempotence keeps each partition's order and drops broker-side repeats */
	kafka_conf_set_internal(conf, "enable.idempotence", "true");
	rd_kafka_conf_set_dr_msg_cb(conf, delivery_cb);
	p->client = kafka_client_create(RD_KAFKA_PRODUCER, conf, cxt, what);
	p->client->owner = p;
	p->batch_cxt = AllocSetContextCreate(cxt, "phoenix kafka publish batch", ALLOCSET_DEFAULT_SIZES);
	/* delivery reports wake the worker */
	{
		rd_kafka_queue_t *main_queue = rd_kafka_queue_get_main(p->client->rk);

		rd_kafka_queue_io_event_enable(main_queue, wake_fd, "p", 1);
		rd_kafka_queue_destroy(main_queue);
	}
	MemoryContextSwitchTo(old);
	return p;
}

/* Delivery reports are served by rd_kafka_poll/flush on our thread. */
static void
delivery_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
	Publisher  *p = (Publisher *) ((KafkaClient *) opaque)->owner;

	if (msg->err)
	{
		p->failed++;
		snprintf(p->error, sizeof(p->error), "%s", rd_kafka_err2str(msg->err));
	}
	else
		p->delivered++;
}

/*
 * Outside any transaction, without waiting: collect what came back for each
 * batch in flight, and send a batch for each publication that may have
 * work (woken by a commit, the last batch was full, or the fallback timer).
 * Returns whether anything was sent or finished.
 */
bool
publish_step(bool woken)
{
	bool		busy = false;
	ListCell   *lc;
	TimestampTz now = GetCurrentTimestamp();

	foreach(lc, publishers)
	{
		Publisher  *p = (Publisher *) lfirst(lc);

		CHECK_FOR_INTERRUPTS();
		if (p->ninflight > 0)
		{
			busy |= publish_collect(p);
			continue;
		}
		if (!woken && !p->more && now < p->next_check)
			continue;
		p->next_check = TimestampTzPlusMilliseconds(now, PUBLISH_CHECK_MS);
		busy |= publish_send(p);
	}
	return busy;
}

/*
 * Read a batch (short transaction) and hand it to librdkafka; it is then
 * in flight until publish_collect sees it acknowledged, failed or late.
 */
static bool
publish_send(Publisher *p)
{
	OutboxRow  *rows;
	int			n;

	rd_kafka_poll(p->client->rk, 0);	/* serve stray callbacks */
	n = read_outbox(p, &rows);
	p->more = n == PUBLISH_BATCH;
	if (n == 0)
		return false;
	pgstat_report_activity(STATE_RUNNING, psprintf("phoenix kafka: publishing %d changes of %s", n, p->projection));
	n = produce_rows(p, rows, n);
	if (n == 0)
	{
		finish_batch(p, rows, 0, p->error[0] ? p->error : "librdkafka refused the messages");
		MemoryContextReset(p->batch_cxt);
		p->more = false;
		p->next_check = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), PUBLISH_RETRY_MS);
		return true;
	}
	p->inflight = rows;
	p->ninflight = n;
	p->sent_at = GetCurrentTimestamp();
	return true;
}

/*
 * Serve the delivery reports of the batch in flight.  When every message is
 * acknowledged, delete the rows; when one failed, or phoenix.kafka_timeout
 * passed (the rest is then purged), delete nothing and send the batch again
 * after a pause.  Returns whether the batch ended.
 */
static bool
publish_collect(Publisher *p)
{
	int			n = p->ninflight;

	rd_kafka_poll(p->client->rk, 0);
	if (p->delivered + p->failed < n && rd_kafka_outq_len(p->client->rk) > 0)
	{
		if (!TimestampDifferenceExceeds(p->sent_at, GetCurrentTimestamp(), kafka_timeout_ms))
			return false;
		rd_kafka_purge(p->client->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
		rd_kafka_poll(p->client->rk, 0);
		if (p->error[0] == '\0')
			snprintf(p->error, sizeof(p->error), "%s",
					 p->client->last_error[0] ? p->client->last_error : "timed out waiting for the brokers");
		p->failed = Max(p->failed, 1);
	}
	if (p->failed == 0 && p->delivered == n)
		finish_batch(p, p->inflight, n, NULL);
	else
	{
		finish_batch(p, p->inflight, 0, p->error[0] ? p->error : "timed out waiting for the brokers");
		p->more = false;
		p->next_check = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), PUBLISH_RETRY_MS);
	}
	end_inflight(p);
	return true;
}

static void
end_inflight(Publisher *p)
{
	p->inflight = NULL;
	p->ninflight = 0;
	MemoryContextReset(p->batch_cxt);
}

static int
read_outbox(Publisher *p, OutboxRow **rows)
{
	MemoryContext caller;
	int			n;
	Datum		args[2];
	int			ret;

	caller = kafka_txn_begin();
	if (plan_read == NULL)
		plan_read = phoenix_prepare_kept("SELECT position, key, op, row::text FROM phoenix.kafka_outbox"
								 " WHERE publication_id = $1 ORDER BY position LIMIT $2",
								 2, (Oid[]) {INT4OID, INT4OID}, "the outbox read");
	args[0] = Int32GetDatum(p->id);
	args[1] = Int32GetDatum(PUBLISH_BATCH);
	ret = SPI_execute_plan(plan_read, args, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	n = (int) SPI_processed;
	*rows = MemoryContextAlloc(p->batch_cxt, sizeof(OutboxRow) * Max(1, n));
	for (int i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		OutboxRow  *r = &(*rows)[i];
		bool		isnull;
		char	   *row = SPI_getvalue(tup, desc, 4);

		r->position = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		r->key = MemoryContextStrdup(p->batch_cxt, SPI_getvalue(tup, desc, 2));
		r->op = MemoryContextStrdup(p->batch_cxt, SPI_getvalue(tup, desc, 3));
		r->row = row ? MemoryContextStrdup(p->batch_cxt, row) : NULL;
		snprintf(r->position_text, sizeof(r->position_text), INT64_FORMAT, r->position);
	}
	kafka_txn_commit(caller);
	return n;
}

/*
 * Queue rows until librdkafka's queue is full (the rest waits for the next
 * batch) or it refuses one.  Returns how many were queued: the oldest n.
 */
static int
produce_rows(Publisher *p, OutboxRow *rows, int n)
{
	p->delivered = p->failed = 0;
	p->error[0] = '\0';
	for (int i = 0; i < n; i++)
	{
		OutboxRow  *r = &rows[i];
		rd_kafka_resp_err_t err;

		CHECK_FOR_INTERRUPTS();
		err = rd_kafka_producev(p->client->rk,
								RD_KAFKA_V_TOPIC(p->topic),
								RD_KAFKA_V_KEY(r->key, strlen(r->key)),
								RD_KAFKA_V_VALUE(r->row, r->row ? strlen(r->row) : 0),
								RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
								RD_KAFKA_V_HEADER("phoenix-outbox-position", r->position_text, -1),
								RD_KAFKA_V_HEADER("phoenix-op", r->op, -1),
								RD_KAFKA_V_END);
		if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
		{
			if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
				snprintf(p->error, sizeof(p->error), "%s", rd_kafka_err2str(err));
			p->more = true;
			return i;
		}
	}
	return n;
}

/*
 * Delete the acknowledged rows and record progress (or the error), in one
 * short transaction.
 */
static void
finish_batch(Publisher *p, OutboxRow *rows, int n, const char *error)
{
	MemoryContext caller;
	Datum	   *positions = palloc(sizeof(Datum) * Max(1, n));
	Datum		args[1];
	int			ret;

	for (int i = 0; i < n; i++)
		positions[i] = Int64GetDatum(rows[i].position);
	caller = kafka_txn_begin();
	prepare_state_plans();
	if (n > 0)
	{
		args[0] = PointerGetDatum(construct_array(positions, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		ret = SPI_execute_plan(plan_delete, args, NULL, false, 0);
		if (ret != SPI_OK_DELETE)
			elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	}
	record_state(p->id, n, n > 0 ? rows[n - 1].position : -1, error);
	kafka_txn_commit(caller);
}

/* A publication that cannot start: its reason, in the caller's transaction. */
static void
record_error(int32 id, const char *error)
{
	prepare_state_plans();
	record_state(id, 0, -1, error);
}

/*
 * Upsert a publication's state (inside SPI): `sent` more rows up to
 * `last_position` (-1: none), and `error` if not NULL, redacted (readers of
 * publication_status must not see credentials librdkafka quotes).
 */
static void
record_state(int32 id, int64 sent, int64 last_position, const char *error)
{
	Datum		args[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	char		redacted[1024];
	int			ret;

	args[0] = Int32GetDatum(id);
	args[1] = Int64GetDatum(sent);
	args[2] = Int64GetDatum(last_position);
	nulls[2] = last_position >= 0 ? ' ' : 'n';
	if (error != NULL)
	{
		strlcpy(redacted, error, sizeof(redacted));
		kafka_redact(redacted, sizeof(redacted), NULL, 0);
		args[3] = CStringGetTextDatum(redacted);
	}
	else
		nulls[3] = 'n';
	ret = SPI_execute_plan(plan_state, args, nulls, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
}

static void
prepare_state_plans(void)
{
	if (plan_delete != NULL)
		return;
	plan_delete = phoenix_prepare_kept("DELETE FROM phoenix.kafka_outbox WHERE position = ANY ($1)",
									   1, (Oid[]) {INT8ARRAYOID}, "the outbox delete");
	plan_state = phoenix_prepare_kept("INSERT INTO phoenix.kafka_publication_state AS s"
									  " (publication_id, sent, last_position, last_sent_at, last_error, last_error_at)"
									  " SELECT publication_id, $2, $3, CASE WHEN $2 > 0 THEN now() END,"
									  "        $4, CASE WHEN $4 IS NOT NULL THEN now() END"
									  "   FROM phoenix.kafka_publications WHERE publication_id = $1"
									  " ON CONFLICT (publication_id) DO UPDATE SET"
									  "  sent = s.sent + excluded.sent,"
									  "  last_position = coalesce(excluded.last_position, s.last_position),"
									  "  last_sent_at = coalesce(excluded.last_sent_at, s.last_sent_at),"
									  "  last_error = coalesce(excluded.last_error, s.last_error),"
									  "  last_error_at = coalesce(excluded.last_error_at, s.last_error_at)",
									  4, (Oid[]) {INT4OID, INT8OID, INT8OID, TEXTOID}, "the publication state");
}

/*
 * forget's scrubber of the outbox (registered by KafkaInit): a row forget
 * rewrote has a new change in the outbox, written by this transaction with
 * the scrubbed row; its changes still waiting from before get that row too,
 * so nothing sent after the erasure holds the person's values, and a
 * consumer still sees as many changes.  Called inside SPI, as the owner.
 */
int64
publish_forget_scrub(void)
{
	if (SPI_execute("UPDATE phoenix.kafka_outbox o SET row = n.row "
					"FROM (SELECT DISTINCT ON (publication_id, key) publication_id, key, position, row "
					"FROM phoenix.kafka_outbox WHERE created_at = now() AND row IS NOT NULL "
					"ORDER BY publication_id, key, position DESC) n "
					"WHERE o.publication_id = n.publication_id AND o.key = n.key AND o.position < n.position "
					"AND o.row IS NOT NULL AND o.row::text IS DISTINCT FROM n.row::text",
					false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "phoenix: forget: scrubbing the Kafka outbox failed");
	return (int64) SPI_processed;
}
