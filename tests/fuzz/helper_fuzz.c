/* Shared by every fuzz target. */
#include "helper_fuzz.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* In the sanitizer runtimes; absent (NULL) in a plain build. */
void __sanitizer_report_error_summary(const char *summary) __attribute__((weak));

void fuzz_fail(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "fuzz: invariant broken: %s\n", msg);
	if (__sanitizer_report_error_summary) {
		char line[600];

		snprintf(line, sizeof(line), "fuzz: invariant broken: %s", msg);
		__sanitizer_report_error_summary(line);
	}
	abort();
}
