/*
 * kafka_publish.h — publications: projection changes written to an outbox
 * in the writer's transaction, sent to Kafka by the database's worker.
 */
#ifndef PHOENIX_KAFKA_PUBLISH_H
#define PHOENIX_KAFKA_PUBLISH_H

#include "postgres.h"

/*
 * In the worker, inside a transaction: (re)load the publications into
 * `cxt`.  Returns whether there is any.
 */
extern bool publish_reload(MemoryContext cxt);

/*
 * In the worker, outside any transaction: send one batch of each
 * publication's outbox and delete what the brokers acknowledged.  Returns
 * whether anything was sent.  `woken`: a commit wrote to an outbox.
 */
extern bool publish_step(bool woken);

#endif							/* PHOENIX_KAFKA_PUBLISH_H */
