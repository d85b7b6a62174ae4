/* cryptblk serve --ublk: the volume as the block device /dev/ublkbN.
 *
 * One queue per serving thread (--queues, default one per CPU; the kernel
 * grants at most one per CPU), each with its own engine and volume. With
 * --run the command sees dev=/dev/ublkbN and the server exits with its
 * status; otherwise SIGINT/SIGTERM stop it: the kernel removes the device,
 * the queues answer what is in flight, flush, and the device is deleted. */
#include "cli.h"
#include "serve.h"

#include <cryptblk/ublk.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const struct ublk_thread_ops serve_ublk_thread_ops = {
    .open = serve_volume_open,
    .close = serve_volume_close,
};

static void serve_ublk_stop(void *srv)
{
	ublk_server_stop(srv);
}

static int serve_ublk_watch(void *srv, int fd, void (*fn)(void *ctx), void *ctx)
{
	return ublk_server_watch_fd(srv, fd, fn, ctx);
}

int serve_main_ublk(const struct serve_opts *o, struct serve_ctx *sc, const sigset_t *sigs)
{
	struct ublk_server_config cfg = {
	    .dev_id = o->ublk_id,
	    .queues = o->threads,
	    .queue_depth = o->queue_depth,
	    .read_only = o->read_only,
	    .discard = sc->layout.allow_discards,
	    .copy = o->ublk_copy,
	    .ops = &serve_ublk_thread_ops,
	    .ctx = sc,
	};
	struct serve_child child = {.pid = -1, .pidfd = -1, .stop = serve_ublk_stop};
	struct ublk_server *srv = NULL;
	char dev_env[32];
	const char *env[] = {dev_env, NULL};
	bool wrote_pid = false;
	int rc, ret = CLI_EXIT_OK;

	rc = ublk_server_create(&cfg, &srv);
	/* Every queue's engine holds its own copy now (or none does). */
	luks_key_free(sc->key);
	sc->key = NULL;
	if (rc < 0)
		return cli_exit_code(rc);
	rc = ublk_server_watch_signals(srv, sigs);
	if (rc < 0)
		cli_error("serve: signalfd: %s", strerror(-rc));
	if (rc == 0 && o->pid_file) {
		rc = serve_write_pid_file(o->pid_file);
		if (rc < 0)
			cli_error("serve: pid file %s: %s", o->pid_file, strerror(-rc));
		else
			wrote_pid = true;
	}
	if (rc == 0 && o->run) {
		snprintf(dev_env, sizeof(dev_env), "dev=/dev/ublkb%d", ublk_server_dev_id(srv));
		child.srv = srv;
		rc = serve_run_start(&child, o->run, env, serve_ublk_watch);
	}
	if (rc == 0)
		rc = ublk_server_run(srv);
	if (rc < 0)
		ret = cli_exit_code(rc);
	if (child.pid > 0) {
		/* Stopped by a signal while the command runs: it is about to
		 * lose its device, so it is ended first. */
		int status = serve_run_finish(&child);

		if (rc == 0)
			ret = status;
	}
	rc = ublk_server_destroy(srv);
	if (rc < 0 && ret == CLI_EXIT_OK)
		ret = cli_exit_code(rc);
	if (wrote_pid) /* never another instance's */
		unlink(o->pid_file);
	return ret;
}
