/*
 * kafka_options.c — which librdkafka options Phoenix accepts, and keeping
 * their secrets out of error text.
 *
 * Options come from admins (subscriptions, publications) and from whoever
 * may create a foreign server; librdkafka runs inside the server process as
 * its OS user.  Some properties load code (plugins, engines, providers,
 * interceptors) and some are substituted into a shell command (the kinit
 * command line: sasl.kerberos.principal and .keytab).  So options pass an
 * allowlist of what Phoenix supports rather than a denylist of what is
 * known to be dangerous: a property librdkafka adds later is refused until
 * someone decides it is safe.  Properties naming server files need the
 * pg_read_server_files role, as COPY FROM a file does.
 */
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/memutils.h"

#include "kafka/kafka.h"

/* What an allowed option is besides allowed. */
#define OPT_SECRET		0x01	/* its value never appears in error text */
#define OPT_SERVER_FILE	0x02	/* names a server file: pg_read_server_files */
#define OPT_PHOENIX		0x04	/* Phoenix sets it itself: refused, another hint */

typedef struct KafkaOption
{
	const char *name;
	int			flags;
} KafkaOption;

/*
 * Every property a role may set, and those Phoenix sets itself.  Not here,
 * hence refused: anything that loads code (plugin.library.paths,
 * interceptors, ssl.engine.*, ssl.providers), the kinit command and the
 * values substituted into it (sasl.kerberos.kinit.cmd, .principal, .keytab,
 * .min.time.before.relogin, which kafka_conf_harden sets to 0 so that
 * librdkafka never runs kinit; GSSAPI uses the ticket cache of the server's
 * environment), logging and statistics callbacks, and whatever librdkafka
 * adds later.
 */
static const KafkaOption kafka_options[] = {
	/* identity and security */
	{"client.id", 0},
	{"client.rack", 0},
	{"security.protocol", 0},
	{"sasl.mechanisms", 0},
	{"sasl.mechanism", 0},
	{"sasl.username", 0},
	{"sasl.password", OPT_SECRET},
	{"sasl.kerberos.service.name", 0},
	{"sasl.oauthbearer.method", 0},
	{"sasl.oauthbearer.client.id", 0},
	{"sasl.oauthbearer.client.secret", OPT_SECRET},
	{"sasl.oauthbearer.scope", 0},
	{"sasl.oauthbearer.extensions", OPT_SECRET},
	{"sasl.oauthbearer.token.endpoint.url", 0},
	{"sasl.oauthbearer.config", OPT_SECRET},
	{"enable.sasl.oauthbearer.unsecure.jwt", 0},
	{"ssl.ca.location", OPT_SERVER_FILE},
	{"ssl.certificate.location", OPT_SERVER_FILE},
	{"ssl.key.location", OPT_SERVER_FILE},
	{"ssl.crl.location", OPT_SERVER_FILE},
	{"ssl.keystore.location", OPT_SERVER_FILE},
	{"ssl.keystore.password", OPT_SECRET},
	{"ssl.ca.pem", 0},
	{"ssl.certificate.pem", 0},
	{"ssl.key.pem", OPT_SECRET},
	{"ssl.key.password", OPT_SECRET},
	{"ssl.cipher.suites", 0},
	{"ssl.curves.list", 0},
	{"ssl.sigalgs.list", 0},
	{"ssl.endpoint.identification.algorithm", 0},
	{"enable.ssl.certificate.verification", 0},
	/* network and timeouts */
	{"socket.timeout.ms", 0},
	{"socket.connection.setup.timeout.ms", 0},
	{"socket.keepalive.enable", 0},
	{"socket.nagle.disable", 0},
	{"socket.send.buffer.bytes", 0},
	{"socket.receive.buffer.bytes", 0},
	{"connections.max.idle.ms", 0},
	{"reconnect.backoff.ms", 0},
	{"reconnect.backoff.max.ms", 0},
	{"retry.backoff.ms", 0},
	{"broker.address.family", 0},
	{"broker.address.ttl", 0},
	{"metadata.max.age.ms", 0},
	{"topic.metadata.refresh.interval.ms", 0},
	{"topic.metadata.refresh.fast.interval.ms", 0},
	{"api.version.request", 0},
	{"api.version.request.timeout.ms", 0},
	{"broker.version.fallback", 0},
	{"request.timeout.ms", 0},
	{"message.timeout.ms", 0},
	{"delivery.timeout.ms", 0},
	{"message.max.bytes", 0},
	{"receive.message.max.bytes", 0},
	/* consuming */
	{"session.timeout.ms", 0},
	{"heartbeat.interval.ms", 0},
	{"max.poll.interval.ms", 0},
	{"coordinator.query.interval.ms", 0},
	{"partition.assignment.strategy", 0},
	{"group.instance.id", 0},
	{"auto.offset.reset", 0},
	{"isolation.level", 0},
	{"fetch.wait.max.ms", 0},
	{"fetch.min.bytes", 0},
	{"fetch.max.bytes", 0},
	{"max.partition.fetch.bytes", 0},
	{"fetch.message.max.bytes", 0},
	{"fetch.error.backoff.ms", 0},
	{"queued.min.messages", 0},
	{"queued.max.messages.kbytes", 0},
	{"check.crcs", 0},
	/* producing */
	{"acks", 0},
	{"request.required.acks", 0},
	{"linger.ms", 0},
	{"queue.buffering.max.ms", 0},
	{"queue.buffering.max.messages", 0},
	{"queue.buffering.max.kbytes", 0},
	{"batch.num.messages", 0},
	{"batch.size", 0},
	{"compression.type", 0},
	{"compression.codec", 0},
	{"compression.level", 0},
	{"retries", 0},
	{"message.send.max.retries", 0},
	{"max.in.flight.requests.per.connection", 0},
	{"max.in.flight", 0},
	{"partitioner", 0},
	{"sticky.partitioning.linger.ms", 0},
	/* Phoenix's own: brokers argument, exactly-once offsets, ordered publishing */
	{"bootstrap.servers", OPT_PHOENIX},
	{"metadata.broker.list", OPT_PHOENIX},
	{"group.id", OPT_PHOENIX},
	{"enable.auto.commit", OPT_PHOENIX},
	{"enable.auto.offset.store", OPT_PHOENIX},
	{"enable.partition.eof", OPT_PHOENIX},
	{"offset.store.method", OPT_PHOENIX},
	{"enable.idempotence", OPT_PHOENIX},
	{"transactional.id", OPT_PHOENIX},
};

#define REDACTED "[redacted]"

/* Words that, followed by '=' or ':', introduce a secret in library text. */
static const char *const secret_words[] = {
	"password", "passwd", "secret", "token", "credential", "apikey", "api_key",
	"api-key", "private_key", "authorization", NULL
};

static const KafkaOption *find_option(const char *name);
static char *allowed_names(void);
static void replace_all(char *text, size_t size, const char *needle, size_t needle_len);
static void redact_after_words(char *text, size_t size);
static bool secret_char(char c);
static bool quoted_after_spaces(const char *p);
static void splice_text(char *text, size_t size, size_t from, size_t to, const char *with);

static const KafkaOption *
find_option(const char *name)
{
	for (int i = 0; i < lengthof(kafka_options); i++)
		if (strcmp(kafka_options[i].name, name) == 0)
			return &kafka_options[i];
	return NULL;
}

/* "a, b, c": the names a role may set, for hints. */
static char *
allowed_names(void)
{
	StringInfoData s;

	initStringInfo(&s);
	for (int i = 0; i < lengthof(kafka_options); i++)
	{
		if (kafka_options[i].flags & OPT_PHOENIX)
			continue;
		appendStringInfo(&s, "%s%s", s.len ? ", " : "", kafka_options[i].name);
	}
	return s.data;
}

/*
 * An option must be on the list, not one Phoenix sets, and acceptable to
 * librdkafka (checked on a scratch configuration, so that a typo fails when
 * the server, subscription or publication is created rather than when the
 * worker first connects).
 */
void
kafka_check_option(const char *name, const char *value, const char *context)
{
	const KafkaOption *opt = find_option(name);
	rd_kafka_conf_t *conf;
	rd_kafka_conf_res_t res;
	char		errstr[512];

	if (opt != NULL && (opt->flags & OPT_PHOENIX))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("librdkafka option \"%s\" cannot be set for %s", name, context),
				 errdetail("Phoenix sets this property itself."),
				 errhint("Use the brokers and group_id arguments for connection and group, and leave offset handling to Phoenix.")));
	if (opt == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("librdkafka option \"%s\" cannot be set for %s", name, context),
				 errdetail("Phoenix accepts only the librdkafka options it supports; options that load code, "
						   "run commands (kinit) or are unknown are refused."),
				 errhint("Phoenix accepts: %s.", allowed_names())));

	conf = rd_kafka_conf_new();
	res = rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr));
	rd_kafka_conf_destroy(conf);
	if (res != RD_KAFKA_CONF_OK)
	{
		/* librdkafka quotes the value: keep a secret one out of the message */
		if (opt->flags & OPT_SECRET)
			strlcpy(errstr, "invalid value", sizeof(errstr));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid librdkafka option \"%s\" for %s", name, context),
				 errdetail("librdkafka: %s", errstr),
				 errhint("See librdkafka's CONFIGURATION.md for the values of this property.")));
	}
}

/*
 * The role setting an option (the session's role, also inside Phoenix's
 * SECURITY DEFINER functions) may name server files only with the file-access
 * role, as COPY FROM a file requires.
 */
void
kafka_check_option_setter(const char *name, const char *context)
{
	const KafkaOption *opt = find_option(name);

	if (opt != NULL && (opt->flags & OPT_SERVER_FILE) &&
		!has_privs_of_role(GetOuterUserId(), ROLE_PG_READ_SERVER_FILES))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to set librdkafka option \"%s\" for %s", name, context),
				 errdetail("The option names a file on the database server."),
				 errhint("Only roles with privileges of pg_read_server_files may name server files; "
						 "give certificates inline with ssl.ca.pem, ssl.certificate.pem and ssl.key.pem.")));
}

/*
 * Settings no role may change: librdkafka never runs its kinit command
 * (with a relogin interval of 0 it runs none, not even at start).
 */
void
kafka_conf_harden(rd_kafka_conf_t *conf)
{
	kafka_conf_set_internal(conf, "sasl.kerberos.min.time.before.relogin", "0");
}

/*
 * The values of the secret options set in `conf`, copied into `cxt`, for
 * kafka_redact().  Values of key=value lists (sasl.oauthbearer.config,
 * .extensions) also give each value on its own: librdkafka quotes parts.
 */
char	  **
kafka_conf_secrets(rd_kafka_conf_t *conf, MemoryContext cxt, int *nsecrets)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	List	   *values = NIL;
	char	  **result;
	ListCell   *lc;
	int			n = 0;

	for (int i = 0; i < lengthof(kafka_options); i++)
	{
		char		buf[2048];
		size_t		size = sizeof(buf);
		char	   *tok,
				   *save;

		if (!(kafka_options[i].flags & OPT_SECRET) ||
			rd_kafka_conf_get(conf, kafka_options[i].name, buf, &size) != RD_KAFKA_CONF_OK ||
			buf[0] == '\0')
			continue;
		values = lappend(values, pstrdup(buf));
		for (tok = strtok_r(buf, " ,;\t\n", &save); tok; tok = strtok_r(NULL, " ,;\t\n", &save))
		{
			char	   *eq = strchr(tok, '=');
			char	   *v = eq ? eq + 1 : tok;

			/* short parts (on/off, 1) would blank out unrelated words */
			if (strlen(v) >= 4)
				values = lappend(values, pstrdup(v));
		}
	}
	result = palloc(sizeof(char *) * Max(1, list_length(values)));
	foreach(lc, values)
		result[n++] = lfirst(lc);
	list_free(values);
	MemoryContextSwitchTo(old);
	*nsecrets = n;
	return result;
}

/*
 * Redact, in place and without allocating (error callbacks call it), every
 * secret value and whatever follows "password=", "client_secret:", ... in
 * a library's text.  The text stays readable: "client_secret=[redacted]".
 */
void
kafka_redact(char *text, size_t size, char *const *secrets, int nsecrets)
{
	for (int i = 0; i < nsecrets; i++)
		replace_all(text, size, secrets[i], strlen(secrets[i]));
	redact_after_words(text, size);
}

/* Replace each occurrence of needle (not inside an earlier replacement). */
static void
replace_all(char *text, size_t size, const char *needle, size_t needle_len)
{
	char	   *p = text;

	if (needle_len == 0)
		return;
	while ((p = strstr(p, needle)) != NULL)
	{
		size_t		at = p - text;

		splice_text(text, size, at, at + needle_len, REDACTED);
		p = text + Min(at + strlen(REDACTED), strlen(text));
	}
}

/* After a secret word and '=' or ':' (quotes and spaces allowed around). */
static void
redact_after_words(char *text, size_t size)
{
	for (size_t i = 0; text[i] != '\0'; i++)
	{
		for (int w = 0; secret_words[w] != NULL; w++)
		{
			size_t		len = strlen(secret_words[w]);
			size_t		j = i + len,
						start;

			if (pg_strncasecmp(text + i, secret_words[w], len) != 0)
				continue;
			while (text[j] == '"' || text[j] == '\'' || text[j] == ' ')
				j++;
			if (text[j] != '=' && text[j] != ':')
				continue;
			/* "token: Unrecognized ..." is prose; "secret": "x" is not */
			if (text[j] == ':' && text[j + 1] == ' ' && !quoted_after_spaces(text + j + 1))
				continue;
			j++;
			while (text[j] == '"' || text[j] == '\'' || text[j] == ' ')
				j++;
			start = j;
			while (text[j] != '\0' && secret_char(text[j]))
				j++;
			if (j > start && strncmp(text + start, REDACTED, strlen(REDACTED)) != 0)
				splice_text(text, size, start, j, REDACTED);
			i = start;
			break;
		}
	}
}

/* Characters that continue a secret value (ends at space, quote, separator). */
static bool
secret_char(char c)
{
	return !(c == ' ' || c == '\t' || c == '\n' || c == '"' || c == '\'' || c == ',' ||
			 c == ';' || c == '&' || c == ')' || c == '}' || c == ']' || c == '>');
}

static bool
quoted_after_spaces(const char *p)
{
	while (*p == ' ')
		p++;
	return *p == '"' || *p == '\'';
}

/* text[from, to) := with, truncating at size. */
static void
splice_text(char *text, size_t size, size_t from, size_t to, const char *with)
{
	size_t		len = strlen(text);
	size_t		wlen = strlen(with);
	size_t		tail = len - to;

	if (from + wlen >= size)
	{
		text[from] = '\0';
		strlcat(text, with, size);
		return;
	}
	if (from + wlen + tail >= size)
		tail = size - 1 - from - wlen;
	memmove(text + from + wlen, text + to, tail);
	memcpy(text + from, with, wlen);
	text[from + wlen + tail] = '\0';
}
