/*
 * kafka.c — librdkafka glue shared by the foreign-data wrapper, the
 * subscription worker and publications: option validation, clients owned by
 * memory contexts, error wrapping, cancellable metadata waits.
 */
#include "postgres.h"

#include <limits.h>

#include "common/guc.h"
#include "commands/defrem.h"
#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/snapmgr.h"
#include "nodes/parsenodes.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "forget/forget.h"
#include "kafka/kafka.h"
#include "kafka/kafka_publish.h"
#include "kafka/kafka_worker.h"
#include "common/phoenix.h"


static bool timeout_armed = false;

static void kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque);
static void kafka_client_reset_cb(void *arg);
static bool kafka_deadline_passed(TimestampTz start);
static void kafka_free_metadata(KafkaClient *client);

/*
 * Kafka's own rule for topic names: 1 to 249 of [A-Za-z0-9._-], not "." or "..".
 */
void
kafka_check_topic(const char *topic, const char *context)
{
	size_t		len = strlen(topic);
	bool		ok = len > 0 && len <= 249 && strcmp(topic, ".") != 0 && strcmp(topic, "..") != 0;

	for (const char *p = topic; ok && *p; p++)
		ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
			*p == '.' || *p == '_' || *p == '-';
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid Kafka topic name \"%s\" for %s", topic, context),
				 errhint("Kafka topic names have 1 to 249 letters, digits, dots, underscores or hyphens.")));
}

/*
 * librdkafka properties given as a jsonb object {"property": value}; string,
 * number and boolean values are taken as their text.  Each is checked.
 * Returns a List of DefElem (palloc'd in the current context).
 */
List *
kafka_options_from_jsonb(Jsonb *options, const char *context, bool by_setter)
{
	List	   *result = NIL;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;

	if (options == NULL)
		return NIL;
	if (!JB_ROOT_IS_OBJECT(options))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options of %s must be a JSON object", context),
				 errhint("Write librdkafka properties as {\"property\": \"value\"}.")));
	it = JsonbIteratorInit(&options->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *value;

		if (tok == WJB_KEY)
		{
			key = pnstrdup(v.val.string.val, v.val.string.len);
			continue;
		}
		if (tok != WJB_VALUE)
			continue;
		switch (v.type)
		{
			case jbvString:
				value = pnstrdup(v.val.string.val, v.val.string.len);
				break;
			case jbvNumeric:
				value = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v.val.numeric)));
				break;
			case jbvBool:
				value = v.val.boolean ? "true" : "false";
				break;
			default:
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("librdkafka option \"%s\" of %s must be a string, number or boolean",
								key, context)));
		}
		kafka_check_option(key, value, context);
		if (by_setter)
			kafka_check_option_setter(key, context);
		result = lappend(result, makeDefElem(key, (Node *) makeString(value), -1));
	}
	return result;
}

/*
 * Build a configuration.  Every option is checked first, so that no ERROR
 * can leave the (malloc'd) conf behind.
 */
rd_kafka_conf_t *
kafka_make_conf(const char *brokers, List *options, const char *context)
{
	rd_kafka_conf_t *conf;
	ListCell   *lc;
	char		errstr[512];

	if (brokers == NULL || brokers[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s has no brokers", context),
				 errhint("Give a bootstrap list such as 'host1:9092,host2:9092'.")));
	foreach(lc, options)
	{
		DefElem    *d = lfirst_node(DefElem, lc);

		kafka_check_option(d->defname, defGetString(d), context);
	}

	conf = rd_kafka_conf_new();
	if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
	{
		rd_kafka_conf_destroy(conf);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid brokers \"%s\" for %s", brokers, context),
				 errdetail("librdkafka: %s", errstr)));
	}
	foreach(lc, options)
	{
		DefElem    *d = lfirst_node(DefElem, lc);

		/* checked above; a failure here can only be a librdkafka oddity */
		if (rd_kafka_conf_set(conf, d->defname, defGetString(d), errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
		{
			rd_kafka_conf_destroy(conf);
			elog(ERROR, "librdkafka refused option \"%s\": %s", d->defname, errstr);
		}
	}
	kafka_conf_harden(conf);
	/* librdkafka's own log lines come from its threads: keep them out */
	rd_kafka_conf_set_log_cb(conf, NULL);
	rd_kafka_conf_set_error_cb(conf, kafka_error_cb);
	return conf;
}

/*
 * Set a property Phoenix controls (group.id, offset handling).  Values are
 * ours, so a refusal is a bug; the conf is freed before reporting it.
 */
void
kafka_conf_set_internal(rd_kafka_conf_t *conf, const char *name, const char *value)
{
	char		errstr[512];

	if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
	{
		rd_kafka_conf_destroy(conf);
		elog(ERROR, "librdkafka refused %s=%s: %s", name, value, errstr);
	}
}

/*
 * Errors librdkafka reports asynchronously (broker down, auth failure) are
 * served on our thread by the poll calls; keep the latest for messages and
 * the status view.
 */
static void
kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	KafkaClient *client = (KafkaClient *) opaque;

	if (client != NULL)
	{
		snprintf(client->last_error, sizeof(client->last_error), "%s: %s",
				 rd_kafka_err2name(err), reason);
		kafka_redact(client->last_error, sizeof(client->last_error),
					 client->secrets, client->nsecrets);
	}
}

/*
 * The handle is freed when `cxt` goes away: at the end of a scan, at
 * transaction abort, at worker exit.  The client struct lives in `cxt`.
 */
KafkaClient *
kafka_client_create(rd_kafka_type_t type, rd_kafka_conf_t *conf,
					MemoryContext cxt, const char *what)
{
	KafkaClient *client;
	MemoryContextCallback *cb;
	char		errstr[512];

	/* allocate first: an out-of-memory ERROR must not leak the conf */
	PG_TRY();
	{
		client = MemoryContextAllocZero(cxt, sizeof(KafkaClient));
		cb = MemoryContextAllocZero(cxt, sizeof(MemoryContextCallback));
		client->what = MemoryContextStrdup(cxt, what);
		client->secrets = kafka_conf_secrets(conf, cxt, &client->nsecrets);
	}
	PG_CATCH();
	{
		rd_kafka_conf_destroy(conf);
		PG_RE_THROW();
	}
	PG_END_TRY();

	rd_kafka_conf_set_opaque(conf, client);
	client->rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
	if (client->rk == NULL)
	{
		rd_kafka_conf_destroy(conf);
		kafka_redact(errstr, sizeof(errstr), client->secrets, client->nsecrets);
		ereport(ERROR,
				(errcode(ERRCODE_PHOENIX_KAFKA),
				 errmsg("could not create a Kafka client for %s", what),
				 errdetail("librdkafka: %s", errstr)));
	}
	cb->func = kafka_client_reset_cb;
	cb->arg = client;
	MemoryContextRegisterResetCallback(cxt, cb);
	return client;
}

static void
kafka_client_reset_cb(void *arg)
{
	kafka_client_close((KafkaClient *) arg);
}

/*
 * Free the message in hand and the handle.  A consumer is not closed
 * politely (that waits for the group coordinator): the group notices the
 * departure by session timeout, and Phoenix keeps offsets itself.
 */
void
kafka_client_close(KafkaClient *client)
{
	if (client->closed)
		return;
	client->closed = true;
	if (client->queue)
		rd_kafka_queue_destroy(client->queue);
	client->queue = NULL;
	if (client->msg)
		rd_kafka_message_destroy(client->msg);
	client->msg = NULL;
	kafka_free_metadata(client);
	/* a producer's unsent messages go now, not after its brokers answer */
	if (client->rk && rd_kafka_type(client->rk) == RD_KAFKA_PRODUCER)
		rd_kafka_purge(client->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	if (client->rk)
		rd_kafka_destroy_flags(client->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	client->rk = NULL;
}

/*
 * Leave the consumer group before the handle goes: the group coordinator
 * then hands this member's partitions to the others at once, instead of
 * after session.timeout.ms without heartbeats.  librdkafka's own close waits
 * for the coordinator as long as that; here the wait is bounded by
 * `timeout_ms` (a broker that does not answer only delays the rebalance,
 * which the session timeout still performs).  Rebalance callbacks (the
 * final revocation) are served on this thread.  Never ERRORs: it runs on
 * exit and in memory context reset callbacks.  (Serving the queue with
 * rd_kafka_queue_poll_callback instead would abort the process on a
 * fetched message still queued: librdkafka asserts that callbacks handle
 * everything.)
 */
void
kafka_consumer_close(KafkaClient *client, int timeout_ms)
{
	rd_kafka_queue_t *queue;
	rd_kafka_error_t *error;
	TimestampTz start = GetCurrentTimestamp();

	if (client->closed || client->rk == NULL)
		return;
	queue = rd_kafka_queue_new(client->rk);
	error = rd_kafka_consumer_close_queue(client->rk, queue);
	if (error != NULL)
		rd_kafka_error_destroy(error);
	else
		while (!rd_kafka_consumer_closed(client->rk) &&
			   !TimestampDifferenceExceeds(start, GetCurrentTimestamp(), timeout_ms))
		{
			/*
			 * Consuming serves the callbacks and hands back what must not
			 * be served by one (messages still fetched, errors): dropped.
			 */
			rd_kafka_message_t *msg = rd_kafka_consume_queue(queue, KAFKA_CLOSE_POLL_MS);

			if (msg != NULL)
				rd_kafka_message_destroy(msg);
		}
	rd_kafka_queue_destroy(queue);
}

void
kafka_report(KafkaClient *client, rd_kafka_resp_err_t err, const char *msg)
{
	ereport(ERROR,
			(errcode(ERRCODE_PHOENIX_KAFKA),
			 errmsg("%s", msg),
			 client && client->last_error[0]
			 ? errdetail("librdkafka: %s (last broker error: %s).", rd_kafka_err2str(err), client->last_error)
			 : errdetail("librdkafka: %s.", rd_kafka_err2str(err)),
			 errhint("Check that the brokers of %s are reachable; phoenix.kafka_timeout bounds the wait.",
					 client ? client->what : "the Kafka cluster")));
}

static void
kafka_free_metadata(KafkaClient *client)
{
	if (client->md)
		rd_kafka_metadata_destroy(client->md);
	client->md = NULL;
}

static bool
kafka_deadline_passed(TimestampTz start)
{
	return TimestampDifferenceExceeds(start, GetCurrentTimestamp(), kafka_timeout_ms);
}

/*
 * Partition ids of a topic.  librdkafka blocks for at most KAFKA_POLL_MS per
 * call; between calls we serve interrupts, so a cancel never waits long.
 */
List *
kafka_topic_partitions(KafkaClient *client, const char *topic)
{
	TimestampTz start = GetCurrentTimestamp();

	for (;;)
	{
		rd_kafka_topic_t *rkt;
		const struct rd_kafka_metadata *md = NULL;
		rd_kafka_resp_err_t err;

		CHECK_FOR_INTERRUPTS();
		rkt = rd_kafka_topic_new(client->rk, topic, NULL);
		if (rkt == NULL)
			kafka_report(client, rd_kafka_last_error(), psprintf("could not open Kafka topic \"%s\"", topic));
		err = rd_kafka_metadata(client->rk, 0, rkt, &md, KAFKA_POLL_MS);
		rd_kafka_topic_destroy(rkt);
		/* md belongs to the client until freed, so an ERROR cannot leak it */
		client->md = md;
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1)
		{
			const rd_kafka_metadata_topic_t *t = &md->topics[0];
			List	   *result = NIL;

			err = t->err;
			if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
				ereport(ERROR,
						(errcode(ERRCODE_PHOENIX_KAFKA),
						 errmsg("Kafka topic \"%s\" does not exist", topic),
						 errdetail("librdkafka: %s.", rd_kafka_err2str(err)),
						 errhint("Create the topic, or correct the topic of %s.", client->what)));
			if (err == RD_KAFKA_RESP_ERR_NO_ERROR || t->partition_cnt > 0)
			{
				for (int i = 0; i < t->partition_cnt; i++)
					result = lappend_int(result, t->partitions[i].id);
				kafka_free_metadata(client);
				return result;
			}
		}
		kafka_free_metadata(client);

		if (kafka_deadline_passed(start))
			kafka_report(client, err ? err : RD_KAFKA_RESP_ERR__TIMED_OUT,
						 psprintf("timed out fetching metadata of Kafka topic \"%s\"", topic));
		if (err != RD_KAFKA_RESP_ERR__TIMED_OUT)
			pg_usleep(KAFKA_POLL_MS * 1000L);
	}
}

/* Watermarks of one partition, retried in short calls up to the deadline. */
void
kafka_watermarks(KafkaClient *client, const char *topic, int32 partition,
				 int64 *low, int64 *high)
{
	TimestampTz start = GetCurrentTimestamp();

	for (;;)
	{
		rd_kafka_resp_err_t err;

		CHECK_FOR_INTERRUPTS();
		err = rd_kafka_query_watermark_offsets(client->rk, topic, partition,
											   low, high, KAFKA_POLL_MS);
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
			return;
		if (err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION)
			kafka_report(client, err, psprintf("Kafka topic \"%s\" has no partition %d", topic, partition));
		if (kafka_deadline_passed(start))
			kafka_report(client, err,
						 psprintf("timed out fetching watermarks of Kafka topic \"%s\" partition %d",
								  topic, partition));
		if (err != RD_KAFKA_RESP_ERR__TIMED_OUT)
			pg_usleep(KAFKA_POLL_MS * 1000L);
	}
}

MemoryContext
kafka_txn_begin(void)
{
	MemoryContext caller = CurrentMemoryContext;

	/*
	 * A background worker has no client statements to set the statement
	 * start time, from which the transaction start time (received_at,
	 * now()) is taken: without this every transaction of the worker's life
	 * would carry the time of its first.
	 */
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	kafka_timeout_arm();
	return caller;
}

/* CommitTransactionCommand leaves TopMemoryContext current: go back. */
void
kafka_txn_commit(MemoryContext caller)
{
	kafka_timeout_disarm();
	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();
	MemoryContextSwitchTo(caller);
}

/*
 * The worker's statement timeout (phoenix.kafka_statement_timeout): a
 * background worker runs no client statements, so nothing else starts
 * PostgreSQL's statement timer.  Armed for each worker transaction (and
 * again for each message applied on its own), disarmed before commit and
 * on every error path; when it fires, the next CHECK_FOR_INTERRUPTS raises
 * 57014 "canceling statement due to statement timeout".
 */
void
kafka_timeout_arm(void)
{
	kafka_timeout_disarm();
	if (kafka_statement_timeout > 0)
	{
		enable_timeout_after(STATEMENT_TIMEOUT, kafka_statement_timeout);
		timeout_armed = true;
	}
}

void
kafka_timeout_disarm(void)
{
	if (timeout_armed)
		disable_timeout(STATEMENT_TIMEOUT, false);
	timeout_armed = false;
}

/* Whether the timer armed last has run out (a 57014 was ours, not a cancel). */
bool
kafka_timeout_expired(void)
{
	return timeout_armed &&
		GetCurrentTimestamp() >= get_timeout_finish_time(STATEMENT_TIMEOUT);
}

/*
 * GUCs of the Kafka subsystem (the worker's own are defined by
 * KafkaWorkerInit), then the worker when preloaded.
 */
void
KafkaInit(void)
{
	/* forget rewrites reporting rows: their pending outbox copies follow */
	forget_register_scrubber("phoenix.kafka_outbox", publish_forget_scrub);
	KafkaWorkerInit();
}
