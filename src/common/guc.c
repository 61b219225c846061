/*
 * guc.c — the definitions of every phoenix.* setting (see guc.h for why they
 * live together: the prefix is reserved only after the last one).
 */
#include "postgres.h"

#include <limits.h>

#include "utils/guc.h"

#include "common/guc.h"

int			emit_max_payload_bytes = 1024 * 1024;
int			recurrence_max_occurrences = 10000;
int			projection_set_based_threshold = 2000;
bool		projection_rows_in_c = true;
int			projection_version_memo_kb = 8192;
char	   *forget_secret_guc = NULL;
int			kafka_timeout_ms = 30000;
int			kafka_max_databases = 8;
int			kafka_batch_size = 5000;
int			kafka_workers = 1;
int			kafka_max_message_bytes = 1048576;
int			kafka_restart_delay = 1;
int			kafka_max_restart_delay = 60;
int			kafka_error_interval = 5;
int			kafka_statement_timeout = 60000;

static void
define_ingest_gucs(void)
{
	DefineCustomIntVariable("phoenix.max_payload_bytes",
							"Largest event payload accepted, in bytes.",
							"Larger payloads are refused (phoenix.emit) or dead-lettered (bulk paths).",
							&emit_max_payload_bytes,
							1024 * 1024, 1024, 64 * 1024 * 1024,
							PGC_SUSET, GUC_UNIT_BYTE,
							NULL, NULL, NULL);
	DefineCustomIntVariable("phoenix.series_max_occurrences",
							"Most occurrences one booking series may have in a projection.",
							"Emit refuses a recurrence rule that could give more within the longest "
							"horizon (a COUNT above it, a sub-daily rule too dense); expanding a series "
							"past it is an error, never a silent cap.",
							&recurrence_max_occurrences,
							10000, 1, 1000000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
}

static void
define_projection_gucs(void)
{
	DefineCustomIntVariable("phoenix.set_based_threshold",
							"Rows above which projection statements are planned as set-based joins.",
							"Below it, rows are enriched by prepared index lookups; above it (large "
							"batches, cascades over wide windows), one statement is planned for the "
							"actual set, so the planner can choose hash joins.",
							&projection_set_based_threshold,
							2000, 1, INT_MAX,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("phoenix.rows_in_c",
							 "Computes the rows of arriving events in C.",
							 "On (the default), the rows of a batch below phoenix.set_based_threshold "
							 "are computed by index lookups in C; off, by the prepared SQL row "
							 "computation, which defines them (for comparison and diagnosis).",
							 &projection_rows_in_c,
							 true,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("phoenix.version_memo",
							"Memory per enrichment step for the entity versions arriving rows found.",
							"Each backend that emits remembers, per projection step, the versions its "
							"lookups found, and checks one again under a new snapshot instead of "
							"searching the history's index; past this size the step's memory is "
							"emptied. 0 remembers only within one row.",
							&projection_version_memo_kb,
							8192, 0, INT_MAX / 1024,
							PGC_USERSET, GUC_UNIT_KB, NULL, NULL, NULL);
}

static void
define_forget_gucs(void)
{
	DefineCustomStringVariable("phoenix.forget_secret",
							   "Secret key of the pseudonyms and hashes written by phoenix.forget.",
							   "Empty: the secret in table phoenix.forget_secret. Changing it changes every "
							   "future pseudonym and stops tombstones from recognising forgotten keys.",
							   &forget_secret_guc, "", PGC_SUSET,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
}

static void
define_kafka_gucs(void)
{
	DefineCustomIntVariable("phoenix.kafka_timeout",
							"Longest wait for a Kafka broker in a foreign scan or a SQL call.",
							"Waits are made of short polls, so a cancel is served at once; after this long without an answer the statement fails.",
							&kafka_timeout_ms,
							30000, 100, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("phoenix.kafka_max_databases",
							"Databases that may have a Kafka worker at the same time.",
							"One background worker per database with subscriptions or publications; each takes a max_worker_processes slot.",
							&kafka_max_databases, 8, 1, 1024,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("phoenix.kafka_batch_size",
							"Most Kafka messages applied in one transaction per subscription.",
							NULL, &kafka_batch_size, 5000, 1, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("phoenix.kafka_workers",
							"Background workers per database that apply Kafka subscriptions.",
							"Each joins every subscription's consumer group, which spreads the topic's partitions over them; only the first publishes.",
							&kafka_workers, 1, 1, KAFKA_MAX_WORKERS,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("phoenix.kafka_max_message_bytes",
							"Largest Kafka message a subscription accepts; larger ones are dead-lettered.",
							"A subscription's max_message_bytes overrides it.",
							&kafka_max_message_bytes, 1048576, 1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_BYTE, NULL, NULL, NULL);
	DefineCustomIntVariable("phoenix.kafka_restart_delay",
							"First delay before a failed Kafka worker is restarted; doubles with each failure.",
							NULL, &kafka_restart_delay, 1, 1, 3600,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("phoenix.kafka_max_restart_delay",
							"Longest delay before a failed Kafka worker is restarted.",
							NULL, &kafka_max_restart_delay, 60, 1, 86400,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("phoenix.kafka_error_interval",
							"Shortest interval between two broker errors recorded for one subscription.",
							"Broker errors (connection refused, ...) are retried by librdkafka; they are written to phoenix.subscription_status at most this often.",
							&kafka_error_interval, 5, 0, 3600,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("phoenix.kafka_statement_timeout",
							"Longest time the Kafka worker may spend on one batch, or on one message applied alone.",
							"A batch that runs out of time is applied again message by message, each with this budget; "
							"a message that alone runs out of time is dead-lettered (57014). 0 turns the limit off. "
							"The worker reads it at start (postgresql.conf, ALTER DATABASE or ALTER ROLE ... SET) and at reload.",
							&kafka_statement_timeout, 60000, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_MS, NULL, NULL, NULL);
}

void
phoenix_guc_define(void)
{
	define_ingest_gucs();
	define_projection_gucs();
	define_forget_gucs();
	define_kafka_gucs();
	/* Last: from here on, an unknown phoenix.* name is an error. */
	MarkGUCPrefixReserved("phoenix");
}
