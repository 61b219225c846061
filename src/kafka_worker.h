/*
 * kafka_worker.h — Kafka subscriptions and publications: the launcher and
 * the per-database background worker that consumes and publishes.
 */
#ifndef PHOENIX_KAFKA_WORKER_H
#define PHOENIX_KAFKA_WORKER_H

#include "postgres.h"

/* GUCs, shared memory and the launcher (when in shared_preload_libraries). */
extern void KafkaWorkerInit(void);

#endif							/* PHOENIX_KAFKA_WORKER_H */
