/*
 * jsonformat_fuzz.c — libFuzzer target for src/json/jsonformat.c, the part of the
 * JSON Schema validator that needs no server: the date-time, date, email and
 * uuid parsers.  Built and run by test/shell/jsonformat_fuzz.sh with
 * AddressSanitizer and UndefinedBehaviorSanitizer; besides memory errors it
 * checks properties every accepted input must have, and aborts otherwise.
 */
#include "postgres.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "json/jsonformat.h"

/* port.h maps these onto libpgport's, which a standalone binary lacks */
#undef snprintf
#undef fprintf

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) \
	do { if (!(cond)) { fprintf(stderr, "property failed: %s\n", #cond); abort(); } } while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* an exactly-sized copy, so that ASan sees any read past `len` */
	int			len = size > 4096 ? 4096 : (int) size;
	char	   *s = malloc(len > 0 ? len : 1);
	JsonFormatDateTime dt;
	int			y,
				m,
				d;

	memcpy(s, data, len);

	if (jsonformat_date(s, len, &y, &m, &d))
	{
		CHECK(len == 10);
		CHECK(y >= 1 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 && d <= 31);
	}
	if (jsonformat_datetime(s, len, &dt))
	{
		char		again[64];

		CHECK(len >= 20);
		CHECK(jsonformat_date(s, 10, NULL, NULL, NULL));
		CHECK(dt.hour <= 23 && dt.minute <= 59 && dt.second <= 60);
		CHECK(dt.microsecond >= 0 && dt.microsecond <= 1000000);
		CHECK(dt.offset_seconds > -16 * 3600 && dt.offset_seconds < 16 * 3600);
		/* the same instant written canonically parses to the same fields */
		snprintf(again, sizeof(again), "%.10sT%02d:%02d:%02d%c%02d:%02d", s, dt.hour, dt.minute, dt.second,
				 dt.offset_seconds < 0 ? '-' : '+', abs(dt.offset_seconds) / 3600, abs(dt.offset_seconds) % 3600 / 60);
		{
			JsonFormatDateTime dt2;

			CHECK(jsonformat_datetime(again, strlen(again), &dt2));
			CHECK(dt2.year == dt.year && dt2.month == dt.month && dt2.day == dt.day &&
				  dt2.hour == dt.hour && dt2.minute == dt.minute && dt2.second == dt.second &&
				  dt2.offset_seconds == dt.offset_seconds);
		}
	}
	if (jsonformat_uuid(s, len))
		CHECK(len == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-');
	if (jsonformat_email(s, len))
	{
		CHECK(len >= 3 && memchr(s, '@', len) != NULL);
		CHECK(memchr(s, '\0', len) == NULL);
	}
	free(s);
	return 0;
}
