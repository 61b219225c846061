/*
 * kafka_worker.c — Kafka subscriptions: launcher and consumer worker.
 */
#include "postgres.h"

#include "kafka_worker.h"

void
KafkaWorkerInit(void)
{
}
