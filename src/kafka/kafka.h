/*
 * kafka.h — what the Kafka foreign-data wrapper, the subscription worker and
 * publications share: librdkafka configuration from validated options,
 * handles whose lifetime is tied to a memory context, error wrapping and
 * cancellable waits.
 */
#ifndef PHOENIX_KAFKA_H
#define PHOENIX_KAFKA_H

#include "postgres.h"

#include <librdkafka/rdkafka.h>

#include "fmgr.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"

/*
 * A librdkafka client owned by a memory context: destroyed when the context
 * is reset or deleted (normal end, ERROR, cancel), so no path leaks it.
 */
typedef struct KafkaClient
{
	rd_kafka_t *rk;
	rd_kafka_queue_t *queue;	/* consumer queue reference, if taken */
	void	   *owner;			/* the worker's Consumer/Publisher, if any */
	rd_kafka_message_t *msg;	/* message being turned into a tuple, if any */
	const struct rd_kafka_metadata *md;	/* metadata being read, if any */
	const char *what;			/* for messages: "foreign server \"x\"" */
	char		last_error[512];	/* latest error_cb text (redacted), "" if none */
	char	  **secrets;		/* secret option values, for kafka_redact */
	int			nsecrets;
	bool		closed;
} KafkaClient;

/*
 * Options: a List of DefElem (name = librdkafka property, arg = String),
 * checked by kafka_options.c.  kafka_check_option() ERRORs
 * (invalid_parameter_value, the allowed names in the hint) unless the
 * property is on Phoenix's allowlist and librdkafka accepts the value;
 * properties Phoenix sets itself (brokers, group, offsets) are refused too.
 * kafka_check_option_setter() ERRORs (insufficient_privilege) when the
 * session's role names a server file without pg_read_server_files.
 */
extern void kafka_check_option(const char *name, const char *value, const char *context);
extern void kafka_check_option_setter(const char *name, const char *context);

/* Settings no option may change (no kinit command ever runs). */
extern void kafka_conf_harden(rd_kafka_conf_t *conf);

/* Values of the secret options set in `conf` (and their parts), in `cxt`. */
extern char **kafka_conf_secrets(rd_kafka_conf_t *conf, MemoryContext cxt, int *nsecrets);

/*
 * Blank out, in place, the given secret values and whatever follows
 * "password=", "client_secret=", "token=", ... in library text.  Allocates
 * nothing (librdkafka's error callback uses it).
 */
extern void kafka_redact(char *text, size_t size, char *const *secrets, int nsecrets);

/* ERROR (invalid_name) unless `topic` is a legal Kafka topic name. */
extern void kafka_check_topic(const char *topic, const char *context);

/*
 * librdkafka options from a jsonb object, each checked; List of DefElem.
 * `by_setter`: the session's role is setting them now (also checked with
 * kafka_check_option_setter); false when the worker reads stored ones.
 */
extern List *kafka_options_from_jsonb(Jsonb *options, const char *context, bool by_setter);

/* A conf with bootstrap.servers, the given options and our callbacks. */
extern rd_kafka_conf_t *kafka_make_conf(const char *brokers, List *options,
										const char *context);

/* Set a property Phoenix itself controls; frees conf and ERRORs on failure. */
extern void kafka_conf_set_internal(rd_kafka_conf_t *conf, const char *name, const char *value);

/*
 * Create a client of `type` in `cxt` (conf is consumed, also on failure).
 * ERROR (ERRCODE_PHOENIX_KAFKA) when librdkafka cannot create it.
 */
extern KafkaClient *kafka_client_create(rd_kafka_type_t type, rd_kafka_conf_t *conf,
										MemoryContext cxt, const char *what);
/* Destroy now (idempotent; the reset callback then does nothing). */
extern void kafka_client_close(KafkaClient *client);

/*
 * Leave a consumer's group (so that its partitions move to the other
 * members at once), waiting at most timeout_ms; never ERRORs.  The client
 * still has to be destroyed.
 */
extern void kafka_consumer_close(KafkaClient *client, int timeout_ms);

/* Longest wait for the group coordinator when a consumer leaves its group. */
#define KAFKA_CLOSE_MS 5000
#define KAFKA_CLOSE_POLL_MS 50

/* ERROR with ERRCODE_PHOENIX_KAFKA, message `msg`, librdkafka's text in detail. */
extern void kafka_report(KafkaClient *client, rd_kafka_resp_err_t err, const char *msg) pg_attribute_noreturn();

/* Milliseconds librdkafka may block per call, so interrupts are served. */
#define KAFKA_POLL_MS 100

/*
 * Topic metadata: the partition ids of `topic`, waiting in short polls up to
 * phoenix.kafka_timeout.  ERROR when the topic does not exist.
 */
extern List *kafka_topic_partitions(KafkaClient *client, const char *topic);

/* Low and high watermark of a partition, asked of the broker (short polls). */
extern void kafka_watermarks(KafkaClient *client, const char *topic, int32 partition,
							 int64 *low, int64 *high);

/*
 * Worker-side transactions: kafka_txn_begin starts a transaction with SPI
 * and a snapshot and returns the caller's memory context, which
 * kafka_txn_commit restores after committing.
 */
extern MemoryContext kafka_txn_begin(void);
extern void kafka_txn_commit(MemoryContext caller);

/*
 * The worker's statement timeout (phoenix.kafka_statement_timeout), armed by
 * kafka_txn_begin and for each message applied on its own, disarmed by
 * kafka_txn_commit and on error paths.  kafka_timeout_expired: whether a
 * query-cancel error came from it.
 */
extern void kafka_timeout_arm(void);
extern void kafka_timeout_disarm(void);
extern bool kafka_timeout_expired(void);

extern void KafkaInit(void);

#endif							/* PHOENIX_KAFKA_H */
