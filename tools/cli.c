/* Error reporting and exit codes of the `cryptblk` command. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

int cli_exit_code(int err)
{
	switch (err) {
	case 0:
		return CLI_EXIT_OK;
	case -ENOKEY:
	case -EKEYREJECTED:
		return CLI_EXIT_NO_KEY;
	case -ENOMEM:
		return CLI_EXIT_NO_MEM;
	case -ENODEV:
	case -ENXIO:
	case -ENOENT:
	case -ENOTBLK:
		return CLI_EXIT_DEVICE;
	case -EBUSY:
	case -EWOULDBLOCK:
		return CLI_EXIT_BUSY;
	default:
		return CLI_EXIT_USAGE;
	}
}

void cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("cryptblk: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
