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
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

int
main(int argc, char **argv)
{
	PGconn	   *conn;
	char	   *line = NULL;
	size_t		cap = 0;
	ssize_t		len;
	long		sent = 0;
	PGresult   *res;

	if (argc != 2)
	{
		fprintf(stderr, "usage: %s SQL-with-$1 < lines\n", argv[0]);
		return 2;
	}
	conn = PQconnectdb("");
	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "send_params: %s", PQerrorMessage(conn));
		return 1;
	}
	res = PQprepare(conn, "stmt", argv[1], 1, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		fprintf(stderr, "send_params: %s", PQerrorMessage(conn));
		return 1;
	}
	PQclear(res);
	while ((len = getline(&line, &cap, stdin)) > 0)
	{
		const char *values[1];

		if (line[len - 1] == '\n')
			line[len - 1] = '\0';
		values[0] = line;
		res = PQexecPrepared(conn, "stmt", 1, values, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK)
		{
			fprintf(stderr, "send_params: line %ld: %s", sent + 1, PQerrorMessage(conn));
			PQclear(res);
			PQfinish(conn);
			return 1;
		}
		PQclear(res);
		sent++;
	}
	free(line);
	if (getenv("SEND_PARAMS_CPU"))
	{
		res = PQexec(conn, "SELECT split_part(pg_read_file('/proc/' || pg_backend_pid() || '/schedstat'), ' ', 1)");
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			fprintf(stderr, "send_params: %s", PQerrorMessage(conn));
			return 1;
		}
		printf("%s\n", PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	PQfinish(conn);
	return 0;
}
