/*
 * kafka_admin.c — the SQL face of Kafka subscriptions: create, drop, pause,
 * resume, and the trigger that tells the worker about any catalog change.
 *
 * These run rarely, so they use SPI with ad-hoc statements; the worker's
 * hot path (kafka_worker.c) uses prepared plans.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "timeline/catalog.h"
#include "kafka/kafka.h"
#include "kafka/kafka_worker.h"
#include "common/phoenix.h"
#include "registry/registry.h"

PG_FUNCTION_INFO_V1(phoenix_create_subscription);
PG_FUNCTION_INFO_V1(phoenix_drop_subscription);
PG_FUNCTION_INFO_V1(phoenix_pause_subscription);
PG_FUNCTION_INFO_V1(phoenix_resume_subscription);
PG_FUNCTION_INFO_V1(phoenix_kafka_config_changed);

static void check_name_arg(const char *value, const char *argname, const char *subscription);
static void set_enabled(const char *name, bool enabled);
static void warn_if_no_worker(const char *what);

/*
 * create_subscription(name, topic, event_type, brokers, group_id,
 *   event_type_header, event_type_field, event_id_header, options,
 *   max_message_bytes, enabled)
 *
 * Everything that can be checked without the network is checked here —
 * librdkafka options by librdkafka itself — so that a subscription that
 * exists is one the worker can start.
 */
Datum
phoenix_create_subscription(PG_FUNCTION_ARGS)
{
	char	   *name = phx_text_arg(fcinfo, 0);
	char	   *topic = phx_text_arg(fcinfo, 1);
	char	   *event_type = phx_text_arg(fcinfo, 2);
	char	   *brokers = phx_text_arg(fcinfo, 3);
	char	   *group_id = phx_text_arg(fcinfo, 4);
	char	   *type_header = phx_text_arg(fcinfo, 5);
	char	   *type_field = phx_text_arg(fcinfo, 6);
	char	   *id_header = phx_text_arg(fcinfo, 7);
	Jsonb	   *options = phx_jsonb_arg(fcinfo, 8);
	char	   *what;
	List	   *optlist;
	Oid			argtypes[11] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
	TEXTOID, TEXTOID, JSONBOID, INT4OID, BOOLOID};
	Datum		values[11];
	char		nulls[11];
	int			ret;

	if (name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a subscription needs a name")));
	catalog_check_identifier(name, "subscription", NAMEDATALEN - 1);
	what = psprintf("subscription \"%s\"", name);
	if (topic == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s needs a topic", what)));
	kafka_check_topic(topic, what);
	if (brokers == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s needs brokers", what),
				 errhint("Give brokers => 'host1:9092,host2:9092'.")));
	if (event_type == NULL && type_header == NULL && type_field == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s needs an event type", what),
				 errhint("Give event_type for a topic of one type, or event_type_header or event_type_field to take it from each message.")));
	check_name_arg(event_type, "event_type", name);
	check_name_arg(type_header, "event_type_header", name);
	check_name_arg(type_field, "event_type_field", name);
	check_name_arg(id_header, "event_id_header", name);
	check_name_arg(group_id, "group_id", name);
	if (!PG_ARGISNULL(9) && PG_GETARG_INT32(9) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_message_bytes of %s must be positive", what)));

	/* librdkafka judges the options and the broker list syntax */
	optlist = kafka_options_from_jsonb(options, what, true);
	rd_kafka_conf_destroy(kafka_make_conf(brokers, optlist, what));

	/*
	 * A type named here must exist: with a fixed type every message would
	 * otherwise be dead-lettered; as the fallback of a header or field, every
	 * message without one.
	 */
	if (event_type != NULL && registry_event_type(event_type, true) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("event type \"%s\" of %s does not exist", event_type, what),
				 errhint("Register it first with phoenix.create_event_type; when each message names its type (event_type_header or event_type_field), event_type may be left out.")));

	/* one group per database and subscription unless told otherwise */
	if (group_id == NULL)
		group_id = psprintf("phoenix.%s.%s", get_database_name(MyDatabaseId), name);

	for (int i = 0; i < 11; i++)
	{
		nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
		values[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
	}
	values[4] = CStringGetTextDatum(group_id);
	nulls[4] = ' ';
	if (options == NULL)
	{
		values[8] = DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"));
		nulls[8] = ' ';
	}
	if (PG_ARGISNULL(10))
		values[10] = BoolGetDatum(true), nulls[10] = ' ';

	SPI_connect();
	ret = SPI_execute_with_args("SELECT 1 FROM phoenix.kafka_subscriptions WHERE name = $1",
								1, argtypes, values, nulls, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("subscription \"%s\" already exists", name),
				 errhint("Drop it first with phoenix.drop_subscription('%s').", name)));
	ret = SPI_execute_with_args("INSERT INTO phoenix.kafka_subscriptions (name, topic, event_type, brokers, group_id,"
								" event_type_header, event_type_field, event_id_header, options,"
								" max_message_bytes, enabled)"
								" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
								11, argtypes, values, nulls, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	SPI_finish();
	warn_if_no_worker(what);
	PG_RETURN_VOID();
}

/*
 * drop_subscription(name, if_exists): the subscription and its counters go;
 * its group's offsets go too unless another subscription shares the group
 * and topic (they belong to the group, not to one member).
 */
Datum
phoenix_drop_subscription(PG_FUNCTION_ARGS)
{
	char	   *name = phx_text_arg(fcinfo, 0);
	bool		if_exists = !PG_ARGISNULL(1) && PG_GETARG_BOOL(1);
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	int			ret;

	if (name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("drop_subscription needs a name")));
	values[0] = CStringGetTextDatum(name);
	SPI_connect();

	/*
	 * The subscription row first, then the group's offsets: the order in
	 * which a batch of the worker locks them (see apply_batch), so that a
	 * drop waits for a batch in flight, or the batch for the drop, never
	 * both.
	 */
	ret = SPI_execute_with_args("DELETE FROM phoenix.kafka_subscriptions WHERE name = $1"
								" RETURNING group_id, topic",
								1, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_DELETE_RETURNING)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0 && !if_exists)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("subscription \"%s\" does not exist", name),
				 errhint("Use if_exists => true to ignore a missing subscription.")));
	if (SPI_processed > 0)
	{
		Oid			types2[2] = {TEXTOID, TEXTOID};
		Datum		values2[2];
		bool		isnull;

		values2[0] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		values2[1] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
		ret = SPI_execute_with_args("DELETE FROM phoenix.kafka_offsets o"
									" WHERE o.group_id = $1 AND o.topic = $2"
									"   AND NOT EXISTS (SELECT 1 FROM phoenix.kafka_subscriptions s"
									"                    WHERE s.group_id = $1 AND s.topic = $2)",
									2, types2, values2, NULL, false, 0);
		if (ret != SPI_OK_DELETE)
			elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	}
	SPI_finish();
	PG_RETURN_VOID();
}

Datum
phoenix_pause_subscription(PG_FUNCTION_ARGS)
{
	set_enabled(text_to_cstring(PG_GETARG_TEXT_PP(0)), false);
	PG_RETURN_VOID();
}

Datum
phoenix_resume_subscription(PG_FUNCTION_ARGS)
{
	set_enabled(text_to_cstring(PG_GETARG_TEXT_PP(0)), true);
	warn_if_no_worker(psprintf("subscription \"%s\"", text_to_cstring(PG_GETARG_TEXT_PP(0))));
	PG_RETURN_VOID();
}

static void
set_enabled(const char *name, bool enabled)
{
	Oid			argtypes[2] = {TEXTOID, BOOLOID};
	Datum		values[2] = {CStringGetTextDatum(name), BoolGetDatum(enabled)};
	int			ret;

	SPI_connect();
	ret = SPI_execute_with_args("UPDATE phoenix.kafka_subscriptions SET enabled = $2 WHERE name = $1",
								2, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("subscription \"%s\" does not exist", name),
				 errhint("See phoenix.subscription_status for the subscriptions of this database.")));
	SPI_finish();
}

/*
 * Statement trigger on the catalog: at commit, the worker of this database
 * reloads (and the launcher starts one if there is none).
 */
Datum
phoenix_kafka_config_changed(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("phoenix.kafka_config_changed() must be called as a trigger")));
	kafka_notify_worker(true);
	PG_RETURN_POINTER(NULL);
}

/* Optional names must not be empty when given. */
static void
check_name_arg(const char *value, const char *argname, const char *subscription)
{
	if (value != NULL && value[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s of subscription \"%s\" must not be empty", argname, subscription),
				 errhint("Pass NULL to leave it out.")));
}

static void
warn_if_no_worker(const char *what)
{
	if (!kafka_worker_available())
		ereport(WARNING,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s will not be served: phoenix is not in shared_preload_libraries", what),
				 errhint("Add phoenix to shared_preload_libraries in postgresql.conf and restart the server.")));
}
