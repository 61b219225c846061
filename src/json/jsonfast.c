/*
 * jsonfast.c — a fast reader for the common shape of JSON text.
 *
 * PostgreSQL 15's JSON lexer copies every character of every string into a
 * StringInfo one call at a time, and a semantic-action parser then strdups
 * keys and boxes every scalar; for emit_batch that was a third of the cost
 * of an event.  This reader walks the text once and feeds pushJsonbValue
 * directly (strings without escapes are referenced in place, numbers go to
 * numeric_in as jsonb_in sends them), so the jsonb it builds is
 * byte-for-byte what jsonb_in builds from the same text.  It accepts a strict
 * subset of JSON and refuses the rest without an error (\u escapes, control
 * characters, deep nesting, numbers numeric_in might refuse, anything
 * malformed): callers then use the server's parser, which decides, and
 * raises exactly what PostgreSQL would.  It never raises itself.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "json/jsonfast.h"

/*
 * Longest number literal handled here (numeric_in takes it whatever its
 * exponent of at most 3 digits: it never raises on what this reader passes).
 */
#define NUMBER_MAX_LENGTH	300
#define NUMBER_BUFSIZE		64

typedef enum ReadState
{
	EXPECT_VALUE,				/* a value comes next */
	EXPECT_KEY,					/* an object member's key comes next */
	AFTER_VALUE					/* a value ended: ',' or a closing bracket */
} ReadState;

static bool is_ws(char ch);
static bool is_delimiter(char ch);
static bool read_scalar(JsonFastCursor *c, JsonbValue *v, bool build);
static bool read_number(JsonFastCursor *c, JsonbValue *v, bool build);
static bool read_literal(JsonFastCursor *c, JsonbValue *v);
static bool decode_escapes(const char *s, const char *q, const char **str, int *len);

/* Bytes that end the run of ordinary bytes in a string: '"', '\\', controls. */
static const bool string_special[256] = {
	[0x00] = true, [0x01] = true, [0x02] = true, [0x03] = true, [0x04] = true, [0x05] = true,
	[0x06] = true, [0x07] = true, [0x08] = true, [0x09] = true, [0x0a] = true, [0x0b] = true,
	[0x0c] = true, [0x0d] = true, [0x0e] = true, [0x0f] = true, [0x10] = true, [0x11] = true,
	[0x12] = true, [0x13] = true, [0x14] = true, [0x15] = true, [0x16] = true, [0x17] = true,
	[0x18] = true, [0x19] = true, [0x1a] = true, [0x1b] = true, [0x1c] = true, [0x1d] = true,
	[0x1e] = true, [0x1f] = true, ['"'] = true, ['\\'] = true
};

static inline bool
is_ws(char ch)
{
	return ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r';
}

/* What may follow a number or literal directly (else: not handled). */
static inline bool
is_delimiter(char ch)
{
	return is_ws(ch) || ch == ',' || ch == ']' || ch == '}';
}

char
jsonfast_peek(JsonFastCursor *c)
{
	while (c->p < c->end && is_ws(*c->p))
		c->p++;
	return c->p < c->end ? *c->p : '\0';
}

/*
 * The value is read without recursion: `open` holds the brackets of the
 * containers being read, pushJsonbValue's state their members.
 */
JsonbValue *
jsonfast_value(JsonFastCursor *c, bool build)
{
	static JsonbValue checked = {.type = jbvNull};
	JsonbParseState *ps = NULL;
	JsonbValue *res = &checked;
	JsonbValue	v;
	char		open[JSONFAST_MAX_DEPTH];
	int			depth = 0;
	ReadState	state = EXPECT_VALUE;

	for (;;)
	{
		char		ch = jsonfast_peek(c);

		switch (state)
		{
			case EXPECT_VALUE:
				if (ch == '{' || ch == '[')
				{
					if (depth == JSONFAST_MAX_DEPTH)
						return NULL;
					open[depth++] = ch;
					c->p++;
					if (build)
						res = pushJsonbValue(&ps, ch == '{' ? WJB_BEGIN_OBJECT : WJB_BEGIN_ARRAY, NULL);
					ch = jsonfast_peek(c);
					if (ch == '}' || ch == ']')
						state = AFTER_VALUE;	/* empty: closed below */
					else
						state = open[depth - 1] == '{' ? EXPECT_KEY : EXPECT_VALUE;
					continue;
				}
				if (!read_scalar(c, &v, build))
					return NULL;
				if (depth == 0)
				{
					if (build)
					{
						res = palloc(sizeof(JsonbValue));
						*res = v;
					}
					return res;
				}
				if (build)
					res = pushJsonbValue(&ps, open[depth - 1] == '[' ? WJB_ELEM : WJB_VALUE, &v);
				state = AFTER_VALUE;
				break;

			case EXPECT_KEY:
				{
					JsonbValue	k;

					if (ch != '"' || !jsonfast_string(c, (const char **) &k.val.string.val, &k.val.string.len))
						return NULL;
					if (jsonfast_peek(c) != ':')
						return NULL;
					c->p++;
					if (build)
					{
						k.type = jbvString;
						res = pushJsonbValue(&ps, WJB_KEY, &k);
					}
					state = EXPECT_VALUE;
					break;
				}

			case AFTER_VALUE:
				if (ch == ',')
				{
					CHECK_FOR_INTERRUPTS();
					c->p++;
					state = open[depth - 1] == '{' ? EXPECT_KEY : EXPECT_VALUE;
				}
				else if (ch == (open[depth - 1] == '{' ? '}' : ']'))
				{
					c->p++;
					depth--;
					if (build)
						res = pushJsonbValue(&ps, ch == '}' ? WJB_END_OBJECT : WJB_END_ARRAY, NULL);
					if (depth == 0)
						return res;
				}
				else
					return NULL;
				break;
		}
	}
}

/* A string, number or literal (the cursor is at its first byte). */
static bool
read_scalar(JsonFastCursor *c, JsonbValue *v, bool build)
{
	char		ch = c->p < c->end ? *c->p : '\0';

	if (ch == '"')
	{
		v->type = jbvString;
		return jsonfast_string(c, (const char **) &v->val.string.val, &v->val.string.len);
	}
	if (ch == '-' || (ch >= '0' && ch <= '9'))
		return read_number(c, v, build);
	return read_literal(c, v);
}

/*
 * The JSON number grammar exactly (no leading zeros, digits on both sides
 * of a point), followed by a delimiter, of a size numeric_in always takes;
 * converted by numeric_in, as the server's JSON parser does.
 */
static bool
read_number(JsonFastCursor *c, JsonbValue *v, bool build)
{
	const char *s = c->p;
	const char *q = s;
	const char *end = c->end;
	char		buf[NUMBER_BUFSIZE];
	char	   *token;

	const char *exp;

	if (*q == '-')
		q++;
	if (q < end && *q == '0')
		q++;
	else if (q < end && *q >= '1' && *q <= '9')
		while (q < end && *q >= '0' && *q <= '9')
			q++;
	else
		return false;
	if (q < end && *q == '.')
	{
		if (++q >= end || *q < '0' || *q > '9')
			return false;
		while (q < end && *q >= '0' && *q <= '9')
			q++;
	}
	if (q < end && (*q == 'e' || *q == 'E'))
	{
		if (++q < end && (*q == '+' || *q == '-'))
			q++;
		if (q >= end || *q < '0' || *q > '9')
			return false;
		for (exp = q; q < end && *q >= '0' && *q <= '9'; q++)
			;
		/* exponents numeric_in may refuse are the server's to judge */
		if (q - exp > 3)
			return false;
	}
	if (q < end && !is_delimiter(*q))
		return false;
	/* so are very long numbers */
	if (q - s > NUMBER_MAX_LENGTH)
		return false;
	c->p = q;
	if (!build)
		return true;
	v->type = jbvNumeric;
	v->val.numeric = jsonfast_plain_decimal(s, q - s);
	if (v->val.numeric != NULL)
		return true;
	token = q - s < NUMBER_BUFSIZE ? buf : palloc(q - s + 1);
	memcpy(token, s, q - s);
	token[q - s] = '\0';
	v->val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(token),
														 ObjectIdGetDatum(InvalidOid),
														 Int32GetDatum(-1)));
	return true;
}

/* true, false or null, followed by a delimiter. */
static bool
read_literal(JsonFastCursor *c, JsonbValue *v)
{
	const char *s = c->p;
	long		left = c->end - s;
	int			n;

	if (left >= 4 && memcmp(s, "true", 4) == 0)
	{
		v->type = jbvBool;
		v->val.boolean = true;
		n = 4;
	}
	else if (left >= 5 && memcmp(s, "false", 5) == 0)
	{
		v->type = jbvBool;
		v->val.boolean = false;
		n = 5;
	}
	else if (left >= 4 && memcmp(s, "null", 4) == 0)
	{
		v->type = jbvNull;
		n = 4;
	}
	else
		return false;
	if (n < left && !is_delimiter(s[n]))
		return false;
	c->p = s + n;
	return true;
}

bool
jsonfast_string(JsonFastCursor *c, const char **str, int *len)
{
	const char *s;
	const char *q;
	const char *end = c->end;
	bool		escaped = false;

	if (jsonfast_peek(c) != '"')
		return false;
	s = q = c->p + 1;
	for (;;)
	{
		unsigned char ch;

		/* ordinary bytes: one table lookup each */
		while (q < end && !string_special[(unsigned char) *q])
			q++;
		if (q >= end)
			break;
		ch = (unsigned char) *q;
		if (ch == '"')
			break;
		if (ch != '\\')
			return false;		/* a control character: the server refuses it */
		escaped = true;
		q += 2;
	}
	if (q >= end)
		return false;
	if (q - s > JENTRY_OFFLENMASK)
		return false;
	c->p = q + 1;
	if (!escaped)
	{
		*str = s;
		*len = (int) (q - s);
		return true;
	}
	return decode_escapes(s, q, str, len);
}

/*
 * The string between s and q (exclusive) with its escapes decoded, palloc'd.
 * \u escapes are left to the server (surrogates, \u0000, encodings).
 */
static bool
decode_escapes(const char *s, const char *q, const char **str, int *len)
{
	char	   *buf = palloc(q - s + 1);
	char	   *o = buf;
	const char *r;

	for (r = s; r < q; r++)
	{
		if (*r != '\\')
		{
			*o++ = *r;
			continue;
		}
		switch (*++r)
		{
			case '"':
			case '\\':
			case '/':
				*o++ = *r;
				break;
			case 'b':
				*o++ = '\b';
				break;
			case 'f':
				*o++ = '\f';
				break;
			case 'n':
				*o++ = '\n';
				break;
			case 'r':
				*o++ = '\r';
				break;
			case 't':
				*o++ = '\t';
				break;
			default:
				return false;
		}
	}
	*o = '\0';
	*str = buf;
	*len = (int) (o - buf);
	return true;
}

const char *
jsonfast_value_end(const char *p, const char *end)
{
	int			depth = 0;

	while (p < end && is_ws(*p))
		p++;
	if (p < end && *p != '"' && *p != '{' && *p != '[')
	{
		/* a scalar, or garbage: up to the next delimiter */
		while (p < end && !is_delimiter(*p))
			p++;
		return p;
	}
	while (p < end)
	{
		char		ch = *p++;

		if (ch == '"')
		{
			while (p < end && *p != '"')
				p += *p == '\\' ? 2 : 1;
			if (p >= end)
				return NULL;
			p++;
		}
		else if (ch == '{' || ch == '[')
		{
			CHECK_FOR_INTERRUPTS();
			depth++;
		}
		else if (ch == '}' || ch == ']')
			depth--;
		if (depth <= 0)
			return p;
	}
	return NULL;
}

Jsonb *
jsonfast_jsonb(const char *text, int len)
{
	JsonFastCursor c;
	char		ch;
	JsonbValue *v;

	c.p = text;
	c.end = text + len;
	ch = jsonfast_peek(&c);
	if ((ch != '{' && ch != '[') || (v = jsonfast_value(&c, true)) == NULL ||
		jsonfast_peek(&c) != '\0')
		return NULL;
	return JsonbValueToJsonb(v);
}

/*
 * Both ways end in make_result, which strips zero digits and makes zero
 * positive, so "-0.50" gives the same bytes as numeric_in: 50 / 10^2 with
 * display scale 2.
 */
Numeric
jsonfast_plain_decimal(const char *s, int len)
{
	int64		mantissa = 0;
	int			digits = 0;
	int			scale = 0;
	bool		negative = false;
	bool		point = false;
	int			i = 0;

	if (len > 0 && s[0] == '-')
	{
		negative = true;
		i++;
	}
	for (; i < len; i++)
	{
		if (s[i] >= '0' && s[i] <= '9')
		{
			if (++digits > 18)
				return NULL;
			mantissa = mantissa * 10 + (s[i] - '0');
			scale += point;
		}
		else if (s[i] == '.' && !point && digits > 0)
			point = true;
		else
			return NULL;
	}
	if (digits == 0 || s[len - 1] == '.')
		return NULL;
	return int64_div_fast_to_numeric(negative ? -mantissa : mantissa, scale);
}

JsonbValue *
jsonfast_member(Jsonb *object, const char *field)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) field;
	k.val.string.len = strlen(field);
	return findJsonbValueFromContainer(&object->root, JB_FOBJECT, &k);
}

char *
jsonfast_scalar_text(JsonbValue *v)
{
	if (v->type == jbvString)
		return pnstrdup(v->val.string.val, v->val.string.len);
	if (v->type == jbvNumeric)
		return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	return NULL;
}

char *
jsonfast_value_text(JsonbValue *v)
{
	if (v->type == jbvNull)
		return NULL;
	if (v->type == jbvBool)
		return pstrdup(v->val.boolean ? "true" : "false");
	if (v->type == jbvBinary)
		return JsonbToCString(NULL, v->val.binary.data, v->val.binary.len);
	return jsonfast_scalar_text(v);
}
