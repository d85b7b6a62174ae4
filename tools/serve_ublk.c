/* Serving a volume as /dev/ublkbN: the ublk half of `cryptblk serve`.
 *
 *   cryptblk serve-ublk IMAGE [--key-file FILE] [--ublk[=ID]] [--queues N]
 *       [--queue-depth N] [--crypto SPEC] [--readonly] [--ublk-copy MODE]
 *       [--pid-file FILE] [--run 'COMMAND'] [--verbose]
 *
 * Until `cryptblk serve` exists on main this is its own subcommand; it then
 * becomes serve's --ublk mode. With --run the command runs with
 * dev=/dev/ublkbN in its environment, and the server exits with its status
 * once it ends; otherwise the server runs until SIGINT or SIGTERM. */
#include "cli.h"
#include "cmd_luks.h"
#include "serve_volume.h"

#include <cryptblk/ublk.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

struct serve_ublk_args {
	const char *image, *key_file, *engine, *pid_file, *run;
	struct ublk_server_config cfg;
	bool verbose;
};

struct serve_child {
	pid_t pid;
	int pidfd;
	int status; /* exit code to return: the command's, 128+signal */
	bool exited;
	struct ublk_server *srv;
};

static void serve_child_exited(void *ctx)
{
	struct serve_child *c = ctx;
	int st;

	if (c->exited || waitpid(c->pid, &st, WNOHANG) != c->pid)
		return;
	c->exited = true;
	c->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	ublk_server_stop(c->srv);
}

/* Run `sh -c COMMAND` with dev=/dev/ublkbN and the signal mask of before. */
static int serve_child_start(struct serve_child *c, const char *cmd, int dev_id,
			     const sigset_t *old_mask)
{
	char dev[32];

	snprintf(dev, sizeof(dev), "/dev/ublkb%d", dev_id);
	c->pid = fork();
	if (c->pid < 0)
		return -errno;
	if (c->pid == 0) {
		pthread_sigmask(SIG_SETMASK, old_mask, NULL);
		if (setenv("dev", dev, 1) == 0)
			execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	c->pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
	if (c->pidfd < 0)
		return -errno;
	return ublk_server_watch_fd(c->srv, c->pidfd, serve_child_exited, c);
}

static int serve_write_pid_file(const char *path)
{
	FILE *f = fopen(path, "we");

	if (!f)
		return -errno;
	fprintf(f, "%d\n", (int)getpid());
	return fclose(f) == 0 ? 0 : -errno;
}

static int serve_parse_copy(const char *s, enum ublk_copy_mode *out)
{
	if (!strcmp(s, "auto"))
		*out = UBLK_COPY_AUTO;
	else if (!strcmp(s, "user"))
		*out = UBLK_COPY_USER;
	else if (!strcmp(s, "buffer"))
		*out = UBLK_COPY_BUFFER;
	else
		return -EINVAL;
	return 0;
}

static int serve_parse_id(const char *s, int *out)
{
	uint32_t v;

	if (luks_cli_parse_u32(s, &v) || v > 1u << 20)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

static const char serve_ublk_usage[] =
    "usage: cryptblk serve-ublk IMAGE [--key-file FILE] [--ublk[=ID]] [--queues N] "
    "[--queue-depth N] [--crypto SPEC] [--readonly] [--ublk-copy auto|user|buffer] "
    "[--pid-file FILE] [--run COMMAND] [--verbose]";

static int serve_ublk_option(int opt, const char *arg, struct serve_ublk_args *a)
{
	uint32_t v;

	switch (opt) {
	case 'd':
		a->key_file = arg;
		return 0;
	case 'u':
		return arg ? serve_parse_id(arg, &a->cfg.dev_id) : 0;
	case 'q':
		if (luks_cli_parse_u32(arg, &v) || v == 0 || v > 4096)
			return -EINVAL;
		a->cfg.queues = v;
		return 0;
	case 'D':
		if (luks_cli_parse_u32(arg, &v) || v == 0 || v > 4096)
			return -EINVAL;
		a->cfg.queue_depth = v;
		return 0;
	case 'c':
		a->engine = arg;
		return 0;
	case 'r':
		a->cfg.read_only = true;
		return 0;
	case 'C':
		return serve_parse_copy(arg, &a->cfg.copy);
	case 'p':
		a->pid_file = arg;
		return 0;
	case 'R':
		a->run = arg;
		return 0;
	case 'v':
		a->verbose = true;
		return 0;
	default:
		return -EINVAL;
	}
}

static int serve_ublk_parse(int argc, char **argv, struct serve_ublk_args *a)
{
	static const struct option opts[] = {{"key-file", required_argument, NULL, 'd'},
					     {"ublk", optional_argument, NULL, 'u'},
					     {"queues", required_argument, NULL, 'q'},
					     {"queue-depth", required_argument, NULL, 'D'},
					     {"crypto", required_argument, NULL, 'c'},
					     {"readonly", no_argument, NULL, 'r'},
					     {"ublk-copy", required_argument, NULL, 'C'},
					     {"pid-file", required_argument, NULL, 'p'},
					     {"run", required_argument, NULL, 'R'},
					     {"verbose", no_argument, NULL, 'v'},
					     {0}};
	int opt;

	memset(a, 0, sizeof(*a));
	a->cfg.dev_id = -1;
	while ((opt = getopt_long(argc, argv, "d:", opts, NULL)) != -1) {
		if (serve_ublk_option(opt, optarg, a)) {
			cli_error("%s", serve_ublk_usage);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		cli_error("%s", serve_ublk_usage);
		return CLI_EXIT_USAGE;
	}
	a->image = argv[optind];
	return 0;
}

static const struct ublk_thread_ops serve_ublk_ops = {
    .open = serve_volume_open,
    .close = serve_volume_close,
};

/* Serve until a signal or the --run command ends. Returns the exit code. */
static int serve_ublk_loop(struct serve_ublk_args *a, struct ublk_server *srv,
			   const sigset_t *old_mask)
{
	struct serve_child child = {.pid = -1, .pidfd = -1, .srv = srv};
	int dev = ublk_server_dev_id(srv), rc, ret = 0;

	if (a->verbose)
		fprintf(stderr, "cryptblk: /dev/ublkb%d: %u queue(s) of %u, %s\n", dev,
			ublk_server_queues(srv), ublk_server_queue_depth(srv),
			ublk_server_user_copy(srv) ? "user copy" : "buffer copy");
	if (a->pid_file && (rc = serve_write_pid_file(a->pid_file))) {
		cli_error("pid file %s: %s", a->pid_file, strerror(-rc));
		return cli_exit_code(rc);
	}
	if (a->run && (rc = serve_child_start(&child, a->run, dev, old_mask))) {
		cli_error("--run: %s", strerror(-rc));
		ret = cli_exit_code(rc);
	}
	if (!ret) {
		rc = ublk_server_run(srv);
		if (rc)
			ret = cli_exit_code(rc);
	}
	if (child.pid > 0 && !child.exited) {
		/* Stopped by a signal while the command still runs: it is about
		 * to lose its device, so end it first. */
		int st;
		kill(child.pid, SIGTERM);
		if (waitpid(child.pid, &st, 0) == child.pid)
			child.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		child.exited = true;
	}
	if (child.pidfd >= 0)
		close(child.pidfd);
	if (a->run && child.exited && !ret)
		ret = child.status;
	return ret;
}

int cmd_serve_ublk(int argc, char **argv)
{
	struct serve_ublk_args a;
	struct serve_volume sv;
	struct ublk_server *srv = NULL;
	sigset_t mask, old_mask;
	int ret, rc;

	ret = serve_ublk_parse(argc, argv, &a);
	if (ret)
		return ret;
	ret = serve_volume_init(&sv, a.image, a.key_file, a.engine, a.cfg.read_only);
	if (ret)
		return ret;
	a.cfg.discard = sv.layout.allow_discards;
	a.cfg.ops = &serve_ublk_ops;
	a.cfg.ctx = &sv;
	/* Queue threads inherit the mask: only the signalfd sees these. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &mask, &old_mask);
	rc = ublk_server_create(&a.cfg, &srv);
	/* Every queue's engine holds its own copy of the key now. */
	serve_volume_drop_key(&sv);
	if (rc) {
		ret = cli_exit_code(rc);
		goto out;
	}
	rc = ublk_server_watch_signals(srv, &mask);
	if (rc) {
		cli_error("signalfd: %s", strerror(-rc));
		ret = cli_exit_code(rc);
	} else {
		ret = serve_ublk_loop(&a, srv, &old_mask);
	}
	rc = ublk_server_destroy(srv);
	if (rc && !ret)
		ret = cli_exit_code(rc);
	if (a.pid_file)
		unlink(a.pid_file);
out:
	serve_volume_fini(&sv);
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	return ret;
}
