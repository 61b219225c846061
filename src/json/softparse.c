/*
 * softparse.c — parse untrusted JSON text, timestamps and numbers without
 * ERROR: check the shape first, then hand only acceptable input to the
 * server's own parsers (PostgreSQL 15 has no soft-error input functions, and
 * a subtransaction per bulk row is far too slow).
 */
#include "postgres.h"

#include "common/jsonapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "json/jsonfast.h"
#include "json/jsonschema.h"
#include "json/softparse.h"

/* numeric_in refuses exponents beyond NUMERIC_MAX_PRECISION (1000) */
#define SOFTPARSE_MAX_EXPONENT	1000
#define SOFTPARSE_MAX_DIGITS	1000

static int	number_token_length(const char *s, int len, bool *in_range);
static int	valid_prefix_length(const char *s, int len);
static bool iso_timestamp_shape(const char *s, int len);
static int	digits(const char *s, int len, int i, int n);
static bool rfc3339_microseconds(const char *s, int len);

/*
 * JSON text → jsonb, or NULL with a reason.  Encoding and NUL bytes are
 * checked first; text of the usual shape is then read in one pass by
 * jsonfast.c.  Anything else: nesting depth and number ranges are checked
 * by one linear scan, syntax by the server's JSON parser returning an error
 * code, and only then is jsonb_in called, which can no longer fail.
 */
Jsonb *
softparse_json(const char *text, int len, char **reason, int *sqlerrcode)
{
	int			valid = valid_prefix_length(text, len);
	Jsonb	   *result;
	char	   *copy;
	JsonLexContext *lex;
	JsonParseErrorType err;

	if (valid < len)
	{
		*sqlerrcode = ERRCODE_CHARACTER_NOT_IN_REPERTOIRE;
		*reason = text[valid] == '\0' ?
			psprintf("NUL byte at offset %d", valid) :
			psprintf("invalid %s byte sequence at offset %d", GetDatabaseEncodingName(), valid);
		return NULL;
	}
	/* the usual shape: read in one pass (jsonfast.c); anything else below */
	if ((result = jsonfast_jsonb(text, len)) != NULL)
		return result;
	if (!softparse_json_shape(text, len, reason, sqlerrcode))
		return NULL;

	copy = pnstrdup(text, len);
	lex = makeJsonLexContextCstringLen(copy, len, GetDatabaseEncoding(), true);
	err = pg_parse_json(lex, &nullSemAction);
	if (err != JSON_SUCCESS)
	{
		/* the SQLSTATEs jsonb_in would raise */
		*sqlerrcode = err == JSON_UNICODE_CODE_POINT_ZERO ?
			ERRCODE_UNTRANSLATABLE_CHARACTER : ERRCODE_INVALID_TEXT_REPRESENTATION;
		*reason = json_errdetail(err, lex);
		return NULL;
	}
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(copy)));
}

/*
 * Nesting depth and number literals, skipping strings.  Syntax is left to
 * the parser; this only keeps it away from input it would ERROR on.
 */
bool
softparse_json_shape(const char *s, int len, char **reason, int *sqlerrcode)
{
	int			depth = 0;
	int			i;

	for (i = 0; i < len; i++)
	{
		char		c = s[i];

		if (c == '"')
		{
			for (i++; i < len && s[i] != '"'; i++)
				if (s[i] == '\\')
					i++;
		}
		else if (c == '{' || c == '[')
		{
			CHECK_FOR_INTERRUPTS();
			if (++depth > SOFTPARSE_MAX_JSON_DEPTH)
			{
				*sqlerrcode = ERRCODE_STATEMENT_TOO_COMPLEX;
				*reason = psprintf("nesting deeper than %d levels at offset %d",
								   SOFTPARSE_MAX_JSON_DEPTH, i);
				return false;
			}
		}
		else if (c == '}' || c == ']')
			depth--;
		else if (c == '-' || (c >= '0' && c <= '9'))
		{
			bool		in_range;
			int			n = number_token_length(s + i, len - i, &in_range);

			if (!in_range)
			{
				*sqlerrcode = ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE;
				*reason = psprintf("number out of range at offset %d", i);
				return false;
			}
			i += Max(n, 1) - 1;
		}
	}
	return true;
}

/*
 * Length of the number-like token at s (sign, digits, fraction, exponent),
 * and whether numeric_in would accept its magnitude.
 */
static int
number_token_length(const char *s, int len, bool *in_range)
{
	int			i = 0;
	int			ndigits = 0;
	int			exponent = 0;

	if (i < len && s[i] == '-')
		i++;
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
		ndigits++;
	if (i < len && s[i] == '.')
		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			ndigits++;
	if (i < len && (s[i] == 'e' || s[i] == 'E'))
	{
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			if (exponent <= SOFTPARSE_MAX_EXPONENT)
				exponent = exponent * 10 + (s[i] - '0');
	}
	*in_range = ndigits <= SOFTPARSE_MAX_DIGITS && exponent <= SOFTPARSE_MAX_EXPONENT;
	return i;
}

/* Bytes at the start of s that are valid in the database encoding (NUL ends it). */
static int
valid_prefix_length(const char *s, int len)
{
	return pg_encoding_verifymbstr(GetDatabaseEncoding(), s, len);
}

/*
 * Date or date-time → timestamptz.  Accepted shapes: YYYY-MM-DD, optionally
 * followed by [T or space]HH:MM[:SS[.frac]] and Z or ±HH[[:]MM].  Anything
 * else is refused before the server's datetime decoder sees it (which keeps
 * it away from time zone names, whose lookup can ERROR).
 */
bool
softparse_timestamptz(const char *text, int len, TimestampTz *result,
					  char **reason, int *sqlerrcode)
{
	char		str[MAXDATELEN + 1];
	char		workbuf[MAXDATELEN + MAXDATEFIELDS];
	char	   *field[MAXDATEFIELDS];
	int			ftype[MAXDATEFIELDS];
	int			nf;
	int			dtype;
	int			tz;
	struct pg_tm tt;
	fsec_t		fsec;
	int			dterr;

	/*
	 * RFC 3339 with at most microseconds, the shape producers send, is
	 * converted directly (the same timestamp the decoder below gives, at a
	 * fraction of its cost).  More fractional digits are left to the
	 * decoder, which rounds them its own way.
	 */
	if (rfc3339_microseconds(text, len) && jsonschema_parse_datetime(text, len, result))
		return true;
	if (len > MAXDATELEN || !iso_timestamp_shape(text, len))
	{
		*sqlerrcode = ERRCODE_INVALID_DATETIME_FORMAT;
		*reason = psprintf("\"%s\" is not an ISO 8601 date-time",
						   softparse_sanitize(text, Min(len, MAXDATELEN), NULL));
		return false;
	}
	memcpy(str, text, len);
	str[len] = '\0';
	dterr = ParseDateTime(str, workbuf, sizeof(workbuf), field, ftype, MAXDATEFIELDS, &nf);
	if (dterr == 0)
		dterr = DecodeDateTime(field, ftype, nf, &dtype, &tt, &fsec, &tz);
	if (dterr == 0 && dtype == DTK_DATE)
	{
		if (tm2timestamp(&tt, fsec, &tz, result) == 0 && IS_VALID_TIMESTAMP(*result))
			return true;
		dterr = DTERR_FIELD_OVERFLOW;
	}
	if (dterr == DTERR_FIELD_OVERFLOW || dterr == DTERR_MD_FIELD_OVERFLOW ||
		dterr == DTERR_TZDISP_OVERFLOW)
	{
		*sqlerrcode = ERRCODE_DATETIME_VALUE_OUT_OF_RANGE;
		*reason = psprintf("date-time \"%s\" is out of range", str);
	}
	else
	{
		*sqlerrcode = ERRCODE_INVALID_DATETIME_FORMAT;
		*reason = psprintf("\"%s\" is not a valid date-time", str);
	}
	return false;
}

/* Could s be RFC 3339 with at most six fractional digits?  (A quick look.) */
static bool
rfc3339_microseconds(const char *s, int len)
{
	int			i = 19;

	if (len < 20 || len > MAXDATELEN || s[4] != '-' || (s[10] != 'T' && s[10] != 't'))
		return false;
	if (s[i] != '.')
		return true;
	for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++)
		;
	return i - 20 <= 6;
}

/* n ASCII digits at s[i]? Returns i + n, or -1. */
static int
digits(const char *s, int len, int i, int n)
{
	int			k;

	for (k = 0; k < n; k++, i++)
		if (i >= len || s[i] < '0' || s[i] > '9')
			return -1;
	return i;
}

static bool
iso_timestamp_shape(const char *s, int len)
{
	int			i = 0;

	if ((i = digits(s, len, i, 4)) < 0 || i >= len || s[i++] != '-' ||
		(i = digits(s, len, i, 2)) < 0 || i >= len || s[i++] != '-' ||
		(i = digits(s, len, i, 2)) < 0)
		return false;
	if (i == len)
		return true;
	if (s[i] != 'T' && s[i] != 't' && s[i] != ' ')
		return false;
	i++;
	if ((i = digits(s, len, i, 2)) < 0 || i >= len || s[i++] != ':' ||
		(i = digits(s, len, i, 2)) < 0)
		return false;
	if (i < len && s[i] == ':')
	{
		if ((i = digits(s, len, i + 1, 2)) < 0)
			return false;
		if (i < len && s[i] == '.')
		{
			int			start = ++i;

			while (i < len && s[i] >= '0' && s[i] <= '9')
				i++;
			if (i == start || i - start > 9)
				return false;
		}
	}
	if (i == len)
		return true;
	if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == len)
		return true;
	if (s[i] != '+' && s[i] != '-')
		return false;
	if ((i = digits(s, len, i + 1, 2)) < 0)
		return false;
	if (i < len && s[i] == ':')
		i++;
	if (i < len && (i = digits(s, len, i, 2)) < 0)
		return false;
	return i == len;
}

/*
 * A JSON number literal (exactly: -?(0|[1-9]d*)(.d+)?([eE][+-]?d+)?) within
 * numeric's range → numeric.
 */
bool
softparse_numeric(const char *text, int len, Datum *result)
{
	bool		in_range;
	int			i = 0;
	char	   *copy;
	Numeric		num;

	if (len == 0 || number_token_length(text, len, &in_range) != len || !in_range)
		return false;
	/* the token scan is lenient; insist on JSON's grammar */
	if (text[i] == '-')
		i++;
	if (i >= len || text[i] < '0' || text[i] > '9' ||
		(text[i] == '0' && i + 1 < len && text[i + 1] >= '0' && text[i + 1] <= '9'))
		return false;
	while (i < len && text[i] >= '0' && text[i] <= '9')
		i++;
	if (i < len && text[i] == '.')
	{
		if (++i >= len || text[i] < '0' || text[i] > '9')
			return false;
		while (i < len && text[i] >= '0' && text[i] <= '9')
			i++;
	}
	if (i < len)
	{
		i++;					/* e or E */
		if (i < len && (text[i] == '+' || text[i] == '-'))
			i++;
		if (i >= len)
			return false;
	}
	if ((num = jsonfast_plain_decimal(text, len)) != NULL)
	{
		*result = NumericGetDatum(num);
		return true;
	}
	copy = pnstrdup(text, len);
	*result = DirectFunctionCall3(numeric_in, CStringGetDatum(copy),
								  ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	return true;
}

/*
 * Text that can be stored in a text column: bytes invalid in the database
 * encoding (and NUL) become the four characters \xNN.
 */
char *
softparse_sanitize(const char *bytes, int len, bool *changed)
{
	StringInfoData buf;
	int			i = 0;

	if (changed)
		*changed = false;
	if (valid_prefix_length(bytes, len) == len)
		return pnstrdup(bytes, len);
	initStringInfo(&buf);
	while (i < len)
	{
		int			ok = valid_prefix_length(bytes + i, len - i);

		CHECK_FOR_INTERRUPTS();
		appendBinaryStringInfo(&buf, bytes + i, ok);
		i += ok;
		if (i < len)
		{
			appendStringInfo(&buf, "\\x%02X", (unsigned char) bytes[i]);
			i++;
			if (changed)
				*changed = true;
		}
	}
	return buf.data;
}
