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
	char		last_error[512];	/* latest error_cb text, "" if none */
	bool		closed;
} KafkaClient;

/*
 * Options: a List of DefElem (name = librdkafka property, arg = String).
 * kafka_check_option() ERRORs (invalid_parameter_value, librdkafka's text
 * in errdetail) when librdkafka refuses the property or value, or when the
 * property is one Phoenix sets itself or must not allow (loading shared
 * libraries into the server, offset management).
 */
extern void kafka_check_option(const char *name, const char *value, const char *context);

/* ERROR (invalid_name) unless `topic` is a legal Kafka topic name. */
extern void kafka_check_topic(const char *topic, const char *context);

/* librdkafka options from a jsonb object, each checked; List of DefElem. */
extern List *kafka_options_from_jsonb(Jsonb *options, const char *context);

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

extern void KafkaInit(void);

#endif							/* PHOENIX_KAFKA_H */
