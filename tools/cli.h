/* Shared pieces of the `cryptblk` command: subcommands, errors, exit codes. */
#ifndef CRYPTBLK_TOOLS_CLI_H
#define CRYPTBLK_TOOLS_CLI_H

/* cryptsetup's exit codes */
enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_USAGE = 1,  /* bad arguments, corrupt or unsupported metadata */
	CLI_EXIT_NO_KEY = 2, /* wrong passphrase */
	CLI_EXIT_NO_MEM = 3, /* out of memory */
	CLI_EXIT_DEVICE = 4, /* wrong device */
	CLI_EXIT_BUSY = 5,   /* device busy */
};

/* The one place a negative errno becomes an exit code. -ENOKEY means a wrong
 * passphrase. */
int cli_exit_code(int err);

/* Print "cryptblk: <message>" as one line on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Subcommands: argv[0] is the subcommand's name; return an exit code. */
int cmd_bench(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_test_key(int argc, char **argv);
int cmd_format(int argc, char **argv);
int cmd_add_key(int argc, char **argv);
int cmd_remove_key(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_list(int argc, char **argv);

#endif
