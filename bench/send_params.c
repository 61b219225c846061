/*
 * bench/send_params.c — run one SQL statement once per input line, the line
 * bound as its parameter $1 (text), in one connection (libpq's PG*
 * environment variables).  This is how an application's driver sends a
 * batch: out of line, through the extended protocol, so the server neither
 * lexes nor copies it as a SQL literal.  Exits non-zero on the first error.
 *
 *   send_params 'SELECT accepted FROM phoenix.emit_batch($1)' < batches.txt
 *
 * With SEND_PARAMS_CPU set, it prints at the end the CPU nanoseconds its
 * backend has used (from /proc/<pid>/schedstat, read by the backend itself;
 * needs a superuser), which neighbours on a shared machine do not inflate.
 *
 * A same-time reference (bench/scale.sh): with SEND_PARAMS_REF_DB (a
 * conninfo) and SEND_PARAMS_REF_LINES (a file of lines), the same statement
 * is also run for each of those lines in a second connection, once before
 * the first input line (not counted: it fills that session's caches) and
 * then after every SEND_PARAMS_REF_EVERY input lines (default 10), each time
 * after SEND_PARAMS_REF_RESET (SQL, not counted) has been run there.  The
 * output is then "<main ns> <reference ns> <references> <main wall ns>
 * <main system ticks> <reference system ticks>": the reference's CPU summed
 * over the counted references, the wall time of the input lines alone, and
 * of each CPU the part spent in the kernel (clock ticks from
 * /proc/<pid>/stat, the main's over the whole session).  Interleaved this
 * finely, the reference sees the machine in the same phase as the lines
 * around it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

typedef struct Reference
{
	PGconn	   *conn;
	const char *reset;			/* SQL run before each reference */
	char	  **lines;
	int			nlines;
	long		every;
	long long	cpu_ns;			/* summed over counted references */
	long long	sys_ticks;		/* their kernel part */
	int			count;
} Reference;

static long long
wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
die_conn(PGconn *conn, const char *what)
{
	fprintf(stderr, "send_params: %s: %s", what, PQerrorMessage(conn));
	exit(1);
}

static PGconn *
connect_prepared(const char *conninfo, const char *sql)
{
	PGconn	   *conn = PQconnectdb(conninfo);
	PGresult   *res;

	if (PQstatus(conn) != CONNECTION_OK)
		die_conn(conn, "connect");
	res = PQprepare(conn, "stmt", sql, 1, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		die_conn(conn, "prepare");
	PQclear(res);
	return conn;
}

static void
run_line(PGconn *conn, const char *line, long lineno)
{
	const char *values[1] = {line};
	PGresult   *res = PQexecPrepared(conn, "stmt", 1, values, NULL, NULL, 0);

	if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		fprintf(stderr, "send_params: line %ld: %s", lineno, PQerrorMessage(conn));
		exit(1);
	}
	PQclear(res);
}

/* one number the connection's backend reads with `sql` */
static long long
backend_number(PGconn *conn, const char *sql, const char *what)
{
	PGresult   *res = PQexec(conn, sql);
	long long	n;

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		die_conn(conn, what);
	n = atoll(PQgetvalue(res, 0, 0));
	PQclear(res);
	return n;
}

/* the CPU nanoseconds the connection's backend has used so far */
static long long
backend_cpu_ns(PGconn *conn)
{
	return backend_number(conn, "SELECT split_part(pg_read_file('/proc/' || pg_backend_pid() || '/schedstat'), ' ', 1)",
						  "schedstat");
}

/*
 * the clock ticks the backend has spent in the kernel so far: stime, the
 * 15th field of /proc/<pid>/stat (the 13th after the command's ") ")
 */
static long long
backend_sys_ticks(PGconn *conn)
{
	return backend_number(conn, "SELECT split_part(split_part(pg_read_file('/proc/' || pg_backend_pid() || '/stat'), ') ', 2), ' ', 13)",
						  "stat");
}

static void
read_reference_lines(Reference *ref, const char *path)
{
	FILE	   *f = fopen(path, "r");
	char	   *line = NULL;
	size_t		cap = 0;
	ssize_t		len;

	if (f == NULL)
	{
		perror(path);
		exit(1);
	}
	while ((len = getline(&line, &cap, f)) > 0)
	{
		if (line[len - 1] == '\n')
			line[len - 1] = '\0';
		ref->lines = realloc(ref->lines, sizeof(char *) * (ref->nlines + 1));
		ref->lines[ref->nlines++] = strdup(line);
	}
	free(line);
	fclose(f);
}

static void
run_reference(Reference *ref, int counted)
{
	PGresult   *res;
	long long	t0;
	long long	s0;
	int			i;

	if (ref->reset)
	{
		res = PQexec(ref->conn, ref->reset);
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			die_conn(ref->conn, "reference reset");
		PQclear(res);
	}
	s0 = backend_sys_ticks(ref->conn);
	t0 = backend_cpu_ns(ref->conn);
	for (i = 0; i < ref->nlines; i++)
		run_line(ref->conn, ref->lines[i], i + 1);
	if (counted)
	{
		ref->cpu_ns += backend_cpu_ns(ref->conn) - t0;
		ref->sys_ticks += backend_sys_ticks(ref->conn) - s0;
		ref->count++;
	}
}

int
main(int argc, char **argv)
{
	PGconn	   *conn;
	char	   *line = NULL;
	size_t		cap = 0;
	ssize_t		len;
	long		sent = 0;
	Reference	ref = {0};
	long long	main_wall = 0;

	if (argc != 2)
	{
		fprintf(stderr, "usage: %s SQL-with-$1 < lines\n", argv[0]);
		return 2;
	}
	conn = connect_prepared("", argv[1]);
	if (getenv("SEND_PARAMS_REF_DB") && getenv("SEND_PARAMS_REF_LINES"))
	{
		ref.conn = connect_prepared(getenv("SEND_PARAMS_REF_DB"), argv[1]);
		ref.reset = getenv("SEND_PARAMS_REF_RESET");
		ref.every = getenv("SEND_PARAMS_REF_EVERY") ? atol(getenv("SEND_PARAMS_REF_EVERY")) : 10;
		if (ref.every < 1)
			ref.every = 1;
		read_reference_lines(&ref, getenv("SEND_PARAMS_REF_LINES"));
		run_reference(&ref, 0);
	}
	while ((len = getline(&line, &cap, stdin)) > 0)
	{
		if (line[len - 1] == '\n')
			line[len - 1] = '\0';
		long long	t0 = wall_ns();

		run_line(conn, line, ++sent);
		main_wall += wall_ns() - t0;
		if (ref.conn && sent % ref.every == 0)
			run_reference(&ref, 1);
	}
	free(line);
	if (getenv("SEND_PARAMS_CPU"))
	{
		printf("%lld", backend_cpu_ns(conn));
		if (ref.conn)
			printf(" %lld %d %lld %lld %lld", ref.cpu_ns, ref.count, main_wall, backend_sys_ticks(conn), ref.sys_ticks);
		printf("\n");
	}
	if (ref.conn)
		PQfinish(ref.conn);
	PQfinish(conn);
	return 0;
}
