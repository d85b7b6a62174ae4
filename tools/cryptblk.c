/* The `cryptblk` command: dispatch to a subcommand. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *usage;
};

static const struct command commands[] = {
    {"bench", cmd_bench,
     "bench crypto [--json] [--seconds S] [--engines LIST]   measure the crypto engines"},
    {"dump", cmd_dump, "dump IMAGE [--json]   show a LUKS header"},
    {"test-key", cmd_test_key,
     "test-key IMAGE [--key-file FILE] [--volume-key-file OUT] [--json]   check a passphrase"},
    {"format", cmd_format,
     "format IMAGE [--size SIZE] [--type luks2|luks1] [--key-size 256|512] [--sector-size "
     "512|4096] [--pbkdf KDF] [--iter-time MS] [--label TEXT] [--key-file FILE]   new volume"},
    {"add-key", cmd_add_key,
     "add-key IMAGE [--key-file FILE] --new-key-file FILE   add a passphrase"},
    {"remove-key", cmd_remove_key, "remove-key IMAGE [--key-file FILE]   remove a passphrase"},
    {"serve", cmd_serve,
     "serve IMAGE [--key-file FILE] --nbd unix:PATH|tcp:HOST:PORT [--crypto "
     "openssl|threads[:N]|virtio:PCI_ADDR] "
     "[--readonly] [--export-name NAME] [--threads N] [--pid-file FILE] [--run CMD] "
     "[--reconnect-timeout S]   serve the "
     "plaintext over NBD\n"
     "  serve IMAGE [--key-file FILE] --ublk[=ID] [--queues N] [--queue-depth N] [--crypto ...] "
     "[--readonly] [--ublk-copy auto|user|buffer] [--pid-file FILE] [--run CMD]   or as "
     "/dev/ublkbN"},
    {"list", cmd_list, "list [--json]   the ublk devices of this host and their servers"},
};

static void usage(FILE *out)
{
	fprintf(out, "usage: cryptblk COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %s\n", commands[i].usage);
	fprintf(out,
		"\nIMAGE is a file, a block device, or a remote NBD export: "
		"nbd://HOST[:PORT]/EXPORT,\nnbds://... (TLS), nbd+unix:///EXPORT?socket=PATH\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return CLI_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	cli_error("unknown command '%s' (try 'cryptblk --help')", argv[1]);
	return CLI_EXIT_USAGE;
}
