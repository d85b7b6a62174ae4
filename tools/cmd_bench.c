/* cryptblk bench: placeholder until the crypto benchmark lands. */
#include "cli.h"

int cmd_bench(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_error("bench: not built yet");
	return CLI_EXIT_USAGE;
}
