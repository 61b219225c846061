/*
 * kafka_mock.c — a Kafka-protocol cluster for tests: librdkafka's mock
 * cluster (rdkafka_mock.h) on loopback, driven by line commands.
 *
 * A mock cluster lives in the process that creates it, so tests run this
 * program in the background, read the bootstrap address it prints and talk
 * to it with kcat and Phoenix like to any Kafka cluster.
 *
 *   kafka_mock [-b brokers] [-o addrfile] [-c control] [-t topic:partitions]... [-d]
 *
 * -d logs the mock cluster's own debug lines to stderr ("Member ... is
 * leaving group ...", session timeouts, ...), for tests that check what
 * clients said to the cluster.
 * Prints "bootstrap.servers" on the first line of stdout (and into addrfile
 * when given), then reads commands from the control path (a FIFO, reopened
 * at every EOF) or else from stdin, until killed or told "quit":
 *
 *   topic NAME PARTITIONS     create a topic (replication factor 1..3)
 *   down BROKER|-1            disconnect a broker (all with -1)
 *   up BROKER|-1              accept connections again
 *   leader TOPIC PARTITION BROKER   move a partition's leader
 *   quit
 *
 * Each command answers one line on stdout: "ok" or "error: ...".
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static volatile sig_atomic_t stop_requested = 0;

static void
on_signal(int signo)
{
	(void) signo;
	stop_requested = 1;
}

/* Create a topic from "NAME:PARTITIONS"; replication follows broker count. */
static int
create_topic(rd_kafka_mock_cluster_t *mc, const char *name, int partitions, int brokers)
{
	rd_kafka_resp_err_t err;

	err = rd_kafka_mock_topic_create(mc, name, partitions, brokers < 3 ? brokers : 3);
	if (err)
	{
		printf("error: %s\n", rd_kafka_err2str(err));
		return -1;
	}
	return 0;
}

/* Run one command line; returns 1 on "quit". */
static int
run_command(rd_kafka_mock_cluster_t *mc, char *line, int brokers)
{
	char		verb[32], name[256];
	int			a = 0, b = 0;
	rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;

	if (sscanf(line, "%31s", verb) != 1)
		return 0;
	if (strcmp(verb, "quit") == 0)
		return 1;
	if (strcmp(verb, "topic") == 0 && sscanf(line, "%*s %255s %d", name, &a) == 2)
	{
		if (create_topic(mc, name, a, brokers) == 0)
			printf("ok\n");
	}
	else if ((strcmp(verb, "down") == 0 || strcmp(verb, "up") == 0) &&
			 sscanf(line, "%*s %d", &a) == 1)
	{
		err = verb[0] == 'd' ? rd_kafka_mock_broker_set_down(mc, a)
			: rd_kafka_mock_broker_set_up(mc, a);
		printf(err ? "error: %s\n" : "ok\n", rd_kafka_err2str(err));
	}
	else if (strcmp(verb, "leader") == 0 &&
			 sscanf(line, "%*s %255s %d %d", name, &a, &b) == 3)
	{
		err = rd_kafka_mock_partition_set_leader(mc, name, a, b);
		printf(err ? "error: %s\n" : "ok\n", rd_kafka_err2str(err));
	}
	else
		printf("error: unknown command: %s", line);
	fflush(stdout);
	return 0;
}

/* Read commands from `path` (reopened at EOF, so writers may come and go). */
static void
command_loop(rd_kafka_mock_cluster_t *mc, const char *path, int brokers)
{
	char		line[512];

	while (!stop_requested)
	{
		FILE	   *in = path ? fopen(path, "r") : stdin;

		if (in == NULL)
		{
			if (errno == EINTR)
				continue;
			fprintf(stderr, "kafka_mock: cannot open %s: %s\n", path, strerror(errno));
			return;
		}
		while (!stop_requested && fgets(line, sizeof(line), in) != NULL)
		{
			if (run_command(mc, line, brokers))
			{
				stop_requested = 1;
				break;
			}
		}
		if (path)
			fclose(in);
		else
		{
			/* stdin closed: keep the cluster up until a signal arrives */
			while (!stop_requested)
				pause();
		}
	}
}

int
main(int argc, char **argv)
{
	int			brokers = 3;
	int			debug = 0;
	const char *addrfile = NULL;
	const char *control = NULL;
	char		errstr[512];
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	rd_kafka_mock_cluster_t *mc;
	const char *bootstrap;
	int			opt;
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART: blocking reads return EINTR */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* options read before the cluster exists: -b (its size), -d (its logging) */
	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "-b") == 0 && i + 1 < argc)
			brokers = atoi(argv[i + 1]);
		if (strcmp(argv[i], "-d") == 0)
			debug = 1;
	}
	conf = rd_kafka_conf_new();
	if (rd_kafka_conf_set(conf, "log_level", debug ? "7" : "3", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK ||
		(debug && rd_kafka_conf_set(conf, "debug", "mock", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK))
	{
		fprintf(stderr, "kafka_mock: %s\n", errstr);
		return 1;
	}
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (rk == NULL)
	{
		fprintf(stderr, "kafka_mock: %s\n", errstr);
		return 1;
	}

	if (brokers < 1)
	{
		fprintf(stderr, "kafka_mock: -b needs a positive broker count\n");
		return 2;
	}
	mc = rd_kafka_mock_cluster_new(rk, brokers);
	if (mc == NULL)
	{
		fprintf(stderr, "kafka_mock: cannot create the mock cluster\n");
		return 1;
	}

	while ((opt = getopt(argc, argv, "b:o:c:t:d")) != -1)
	{
		char	   *colon;

		switch (opt)
		{
			case 'b':
			case 'd':
				break;
			case 'o':
				addrfile = optarg;
				break;
			case 'c':
				control = optarg;
				break;
			case 't':
				colon = strrchr(optarg, ':');
				if (colon == NULL)
				{
					fprintf(stderr, "kafka_mock: -t wants topic:partitions\n");
					return 2;
				}
				*colon = '\0';
				if (create_topic(mc, optarg, atoi(colon + 1), brokers) != 0)
					return 1;
				break;
			default:
				fprintf(stderr, "usage: kafka_mock [-b brokers] [-o addrfile] [-c control] [-t topic:partitions]... [-d]\n");
				return 2;
		}
	}

	bootstrap = rd_kafka_mock_cluster_bootstraps(mc);
	if (addrfile)
	{
		/* write then rename, so a reader never sees a partial address */
		char		tmp[1024];
		FILE	   *f;

		snprintf(tmp, sizeof(tmp), "%s.tmp", addrfile);
		f = fopen(tmp, "w");
		if (f == NULL || fprintf(f, "%s\n", bootstrap) < 0 || fclose(f) != 0 ||
			rename(tmp, addrfile) != 0)
		{
			fprintf(stderr, "kafka_mock: cannot write %s: %s\n", addrfile, strerror(errno));
			return 1;
		}
	}
	printf("%s\n", bootstrap);
	fflush(stdout);

	command_loop(mc, control, brokers);

	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
	return 0;
}
