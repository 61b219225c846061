/*
 * kafka_publish.h — publications: projection changes written to an outbox
 * in the writer's transaction, sent to Kafka by the database's worker.
 */
#ifndef PHOENIX_KAFKA_PUBLISH_H
#define PHOENIX_KAFKA_PUBLISH_H

#include "postgres.h"

/*
 * In the worker, inside a transaction: (re)load the publications into
 * `cxt`; their delivery reports write to `wake_fd` (the worker's wake-up
 * pipe).  Returns whether there is any.
 */
extern bool publish_reload(MemoryContext cxt, int wake_fd);

/*
 * In the worker, outside any transaction and without waiting for brokers:
 * send one batch of each publication's outbox, and delete what the brokers
 * acknowledged of the batches in flight.  Returns whether anything was sent
 * or finished.  `woken`: a commit wrote to an outbox.
 */
extern bool publish_step(bool woken);

/* forget's scrubber of the outbox (see forget_register_scrubber). */
extern int64 publish_forget_scrub(void);

#endif							/* PHOENIX_KAFKA_PUBLISH_H */
