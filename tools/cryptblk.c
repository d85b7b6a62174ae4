/* The `cryptblk` command: dispatch to a subcommand. */
#include "cli.h"

#include <cryptblk/osslmem.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *usage;
	bool secrets; /* handles passphrases or a volume key */
};

static const struct command commands[] = {
    {"bench", cmd_bench,
     "bench crypto [--json] [--seconds S] [--engines LIST]   measure the crypto engines", false},
    {"dump", cmd_dump, "dump IMAGE [--json]   show a LUKS header", false},
    {"test-key", cmd_test_key,
     "test-key IMAGE [--key-file FILE] [--volume-key-file OUT] [--json]   check a passphrase",
     true},
    {"format", cmd_format,
     "format IMAGE [--size SIZE] [--type luks2|luks1] [--key-size 256|512] [--sector-size "
     "512|4096] [--pbkdf KDF] [--iter-time MS] [--label TEXT] [--key-file FILE] "
     "[--volume-key-file FILE]   new volume",
     true},
    {"add-key", cmd_add_key,
     "add-key IMAGE [--key-file FILE] --new-key-file FILE   add a passphrase", true},
    {"remove-key", cmd_remove_key, "remove-key IMAGE [--key-file FILE]   remove a passphrase",
     true},
    {"serve", cmd_serve,
     "serve IMAGE [--key-file FILE] --nbd unix:PATH|tcp:HOST:PORT [--crypto "
     "openssl|threads[:N]|virtio:PCI_ADDR] "
     "[--readonly [--shared-readonly]] [--no-image-lock] [--export-name NAME] [--threads N] "
     "[--pid-file FILE] [--run CMD] "
     "[--reconnect-timeout S]   serve the "
     "plaintext over NBD\n"
     "  serve IMAGE [--key-file FILE] --ublk[=ID] [--queues N] [--queue-depth N] [--crypto ...] "
     "[--readonly [--shared-readonly]] [--ublk-copy auto|user|buffer] [--pid-file FILE] "
     "[--run CMD]   or as "
     "/dev/ublkbN",
     true},
    {"list", cmd_list, "list [--json]   the ublk devices of this host and their servers", false},
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

/* Before OpenSSL allocates anything: its secret allocations (key
 * schedules, KDF passwords) go to its secure heap. CRYPTBLK_SECURE_HEAP_KIB
 * sets the size (a power of two, at least 64; 0 turns it off). */
static void main_secure_heap(void)
{
	const char *env = getenv("CRYPTBLK_SECURE_HEAP_KIB");
	size_t size = OSSLMEM_HEAP_DEFAULT;
	bool locked;
	char *end;
	int rc;

	if (env && *env) {
		unsigned long kib = strtoul(env, &end, 10);

		if (end == env || *end || kib > (1ul << 20)) {
			cli_error("CRYPTBLK_SECURE_HEAP_KIB=%s: not a size in KiB; using %u KiB",
				  env, OSSLMEM_HEAP_DEFAULT >> 10);
			kib = OSSLMEM_HEAP_DEFAULT >> 10;
		}
		size = (size_t)kib << 10;
	}
	rc = osslmem_init(size, &locked);
	if (rc < 0)
		cli_error("warning: OpenSSL secure heap of %zu KiB: %s; OpenSSL's key schedules "
			  "stay in ordinary memory",
			  size >> 10, strerror(-rc));
	else if (size && !locked)
		cli_error("warning: OpenSSL secure heap: cannot lock %zu KiB (RLIMIT_MEMLOCK); key "
			  "schedules may be swapped out",
			  size >> 10);
}

/* A command that holds secrets cannot be ptraced by its user, nor dump
 * core: only a process with CAP_SYS_PTRACE can read its memory. */
static void main_protect(const struct command *cmd)
{
	if (cmd->secrets && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		cli_error("warning: prctl(PR_SET_DUMPABLE): %s", strerror(errno));
}

int main(int argc, char **argv)
{
	main_secure_heap();
	if (argc < 2) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return CLI_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name)) {
			main_protect(&commands[i]);
			return commands[i].run(argc - 1, argv + 1);
		}
	cli_error("unknown command '%s' (try 'cryptblk --help')", argv[1]);
	return CLI_EXIT_USAGE;
}
