/*
 * kafka_publish.c — publications: projection changes sent to Kafka from an
 * outbox.  (Publications arrive in a later step.)
 */
#include "postgres.h"

#include "kafka_publish.h"

bool
publish_reload(MemoryContext cxt)
{
	return false;
}

bool
publish_step(int wake_fd)
{
	return false;
}
