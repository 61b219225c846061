/*
 * kafka_worker.h — Kafka subscriptions and publications: the launcher and
 * the per-database background worker that consumes and publishes.
 */
#ifndef PHOENIX_KAFKA_WORKER_H
#define PHOENIX_KAFKA_WORKER_H

#include "postgres.h"

#include "fmgr.h"

/* The role the worker runs as (created NOLOGIN with the extension). */
#define KAFKA_WORKER_ROLE "phoenix_kafka"

/* GUCs, shared memory and the launcher (when in shared_preload_libraries). */
extern void KafkaWorkerInit(void);

/* Whether a launcher serves this server (phoenix was preloaded). */
extern bool kafka_worker_available(void);

/*
 * At commit of the current transaction, wake this database's worker:
 * config_changed makes it reload subscriptions and publications (and makes
 * the launcher start a worker if there is none); otherwise it only looks at
 * the outbox.
 */
extern void kafka_notify_worker(bool config_changed);

/* Background worker entry points (bgw_function_name). */
extern PGDLLEXPORT void phoenix_kafka_launcher_main(Datum arg);
extern PGDLLEXPORT void phoenix_kafka_worker_main(Datum arg);

#endif							/* PHOENIX_KAFKA_WORKER_H */
