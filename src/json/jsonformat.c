/*
 * jsonformat.c — the string formats of JSON Schema's "format" keyword, as
 * pure functions of their input (see jsonformat.h).  Nothing here calls the
 * server, so test/fuzz/jsonformat_fuzz.c can run these under libFuzzer; the
 * inputs are not NUL-terminated and are never read past `len`.
 */
#include "postgres.h"

#include <arpa/inet.h>

#include "datatype/timestamp.h"

#include "json/jsonformat.h"

/* n ASCII digits at s (never locale digits: "৪" is not a digit here). */
static inline bool
digits(const char *s, int n, int *out)
{
	int			v = 0;

	for (int i = 0; i < n; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

static int
days_in_month(int year, int month)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (month == 2 && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0))
		return 29;
	return mdays[month - 1];
}

/*
 * RFC 3339 full-date at s (10 bytes available).  Year 0000 is refused
 * because PostgreSQL's date and timestamptz have no year zero.
 */
static bool
full_date(const char *s, int *y, int *m, int *d)
{
	if (s[4] != '-' || s[7] != '-' ||
		!digits(s, 4, y) || !digits(s + 5, 2, m) || !digits(s + 8, 2, d))
		return false;
	return *y >= 1 && *m >= 1 && *m <= 12 && *d >= 1 && *d <= days_in_month(*y, *m);
}

bool
jsonformat_date(const char *s, int len, int *year, int *month, int *day)
{
	int			y,
				m,
				d;

	if (len != 10 || !full_date(s, &y, &m, &d))
		return false;
	if (year)
		*year = y, *month = m, *day = d;
	return true;
}

/* ".digits" at s[*pos]: microseconds, rounded half up at the seventh digit. */
static bool
fraction(const char *s, int len, int *pos, int *usec)
{
	int			ndig = 0;
	int			scale = 100000;

	*usec = 0;
	if (*pos >= len || s[*pos] != '.')
		return true;
	for ((*pos)++; *pos < len && s[*pos] >= '0' && s[*pos] <= '9'; (*pos)++, ndig++)
	{
		if (ndig < 6)
			*usec += (s[*pos] - '0') * scale, scale /= 10;
		else if (ndig == 6 && s[*pos] >= '5')
			(*usec)++;
	}
	return ndig > 0;
}

bool
jsonformat_datetime(const char *s, int len, JsonFormatDateTime *out)
{
	JsonFormatDateTime dt;
	int			pos = 19;
	int			oh = 0,
				om = 0,
				sign = 0;

	if (len < 20 || !full_date(s, &dt.year, &dt.month, &dt.day))
		return false;
	if ((s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' ||
		!digits(s + 11, 2, &dt.hour) || !digits(s + 14, 2, &dt.minute) ||
		!digits(s + 17, 2, &dt.second))
		return false;
	if (dt.hour > 23 || dt.minute > 59 || dt.second > 60)
		return false;
	if (!fraction(s, len, &pos, &dt.microsecond))
		return false;
	if (pos + 1 == len && (s[pos] == 'Z' || s[pos] == 'z'))
		pos++;
	else if (pos + 6 == len && (s[pos] == '+' || s[pos] == '-') && s[pos + 3] == ':' &&
			 digits(s + pos + 1, 2, &oh) && digits(s + pos + 4, 2, &om))
	{
		sign = s[pos] == '+' ? 1 : -1;
		pos += 6;
		/* RFC 3339 allows hours to 23; timestamptz only to MAX_TZDISP_HOUR */
		if (oh > MAX_TZDISP_HOUR || om > 59)
			return false;
	}
	else
		return false;
	dt.offset_seconds = sign * (oh * SECS_PER_HOUR + om * SECS_PER_MINUTE);
	if (dt.second == 60)
	{
		/* a leap second is the last second of a UTC day */
		int			utc = ((dt.hour * 60 + dt.minute - sign * (oh * 60 + om)) % 1440 + 1440) % 1440;

		if (utc != 23 * 60 + 59)
			return false;
	}
	if (out)
		*out = dt;
	return true;
}

static bool
is_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		(c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* "[IPv4]" or "[IPv6:...]": the libc parser decides. */
static bool
address_literal(const char *s, int len)
{
	char		buf[64];
	const char *lit = s + 1;
	int			litlen = len - 2;
	int			af = AF_INET;
	unsigned char addr[16];

	if (len < 2 || s[len - 1] != ']' || litlen <= 0)
		return false;
	if (litlen > 5 && strncmp(lit, "IPv6:", 5) == 0)
		af = AF_INET6, lit += 5, litlen -= 5;
	if (litlen >= (int) sizeof(buf) || memchr(lit, '\0', litlen))
		return false;
	memcpy(buf, lit, litlen);
	buf[litlen] = '\0';
	return inet_pton(af, buf, addr) == 1;
}

/* RFC 5321 Domain: dot-separated letter-digit-hyphen labels, or an address literal. */
static bool
domain(const char *s, int len)
{
	int			label = 0;

	if (len == 0 || len > 255)
		return false;
	if (s[0] == '[')
		return address_literal(s, len);
	for (int i = 0; i <= len; i++)
	{
		if (i == len || s[i] == '.')
		{
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
			  (s[i] >= '0' && s[i] <= '9') || (s[i] == '-' && label > 0)))
			return false;
		label++;
	}
	return true;
}

/* The local part: a quoted string or a dot-string.  Returns its length, or -1. */
static int
local_part(const char *s, int len)
{
	int			i = 0;
	bool		after_dot = true;

	if (len > 0 && s[0] == '"')
	{
		for (i = 1; i < len && s[i] != '"'; i++)
		{
			unsigned char c = s[i];

			if (c == '\\')
			{
				if (++i >= len || (unsigned char) s[i] < 32 || (unsigned char) s[i] > 126)
					return -1;
			}
			else if (c < 32 || c > 126)
				return -1;
		}
		return i < len ? i + 1 : -1;
	}
	for (; i < len && s[i] != '@'; i++)
	{
		if (s[i] == '.')
		{
			if (after_dot)
				return -1;		/* leading or doubled dot */
			after_dot = true;
		}
		else if (is_atext((unsigned char) s[i]))
			after_dot = false;
		else
			return -1;
	}
	return after_dot ? -1 : i;	/* empty, or a trailing dot */
}

bool
jsonformat_email(const char *s, int len)
{
	int			n = local_part(s, len);

	if (n <= 0 || n > 64 || n >= len || s[n] != '@')
		return false;
	return domain(s + n + 1, len - n - 1);
}

bool
jsonformat_uuid(const char *s, int len)
{
	/* the offsets of the 32 hex digits */
	static const unsigned char hexpos[32] = {
		0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 14, 15, 16, 17,
		19, 20, 21, 22, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35
	};

	if (len != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-')
		return false;
	for (int i = 0; i < 32; i++)
	{
		unsigned char c = s[hexpos[i]] | 0x20;	/* ASCII lower case */

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return true;
}
