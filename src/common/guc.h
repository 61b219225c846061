/*
 * guc.h — every phoenix.* setting, defined in one place (guc.c).
 *
 * All settings are defined by phoenix_guc_define(), which _PG_init calls
 * before any subsystem starts, and which reserves the "phoenix" prefix only
 * after the last definition: a setting read from postgresql.conf at server
 * start is then always recognised (reserving the prefix earlier made the
 * server drop the settings not yet defined as "invalid").
 */
#ifndef PHOENIX_GUC_H
#define PHOENIX_GUC_H

#include "postgres.h"

/*
 * Most appliers per database (the bound of phoenix.kafka_workers): each is a
 * member of every subscription's consumer group, so the group spreads
 * partitions over them, and each commits a partition's offsets with that
 * partition's events.
 */
#define KAFKA_MAX_WORKERS	8

/* ingest */
extern int	emit_max_payload_bytes;
extern int	recurrence_max_occurrences;

/* projection */
extern int	projection_set_based_threshold;
extern bool projection_rows_in_c;
extern int	projection_version_memo_kb;

/* forget: empty means "the secret stored in phoenix.forget_secret" */
extern char *forget_secret_guc;

/* kafka */
extern int	kafka_timeout_ms;
extern int	kafka_max_databases;
extern int	kafka_batch_size;
extern int	kafka_workers;
extern int	kafka_max_message_bytes;
extern int	kafka_restart_delay;
extern int	kafka_max_restart_delay;
extern int	kafka_error_interval;
extern int	kafka_statement_timeout;

extern void phoenix_guc_define(void);

#endif							/* PHOENIX_GUC_H */
