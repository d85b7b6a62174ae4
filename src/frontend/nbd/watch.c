/* One-shot watches on the server's control loop: a readable fd (a child's
 * pidfd) runs a callback once; a signalfd stops the server. Both are polls
 * through the loop, cancelled when the server stops or is destroyed. */
#include "nbd_int.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

struct nbd_fdwatch {
	struct nbd_fdwatch *next;
	struct nbd_server *srv;
	int fd;
	bool own_fd;
	void (*fn)(void *ctx);
	void *ctx;
	struct loop_op poll_op, cancel_op;
	bool polling, cancelling, fired;
};

static void nbd_fdwatch_cancel(struct nbd_fdwatch *fw);

static void nbd_fdwatch_polled(struct loop_op *op, int res, uint32_t cqe_flags)
{
	struct nbd_fdwatch *fw =
	    (struct nbd_fdwatch *)((char *)op - offsetof(struct nbd_fdwatch, poll_op));

	if (!(cqe_flags & IORING_CQE_F_MORE))
		fw->polling = false;
	if (res > 0 && !fw->fired && !fw->cancelling) {
		fw->fired = true;
		fw->fn(fw->ctx);
	}
	if (fw->polling)
		nbd_fdwatch_cancel(fw); /* once is enough */
}

static void nbd_fdwatch_cancelled(struct loop_op *op, int res, uint32_t cqe_flags)
{
	struct nbd_fdwatch *fw =
	    (struct nbd_fdwatch *)((char *)op - offsetof(struct nbd_fdwatch, cancel_op));

	(void)res;
	(void)cqe_flags;
	fw->cancelling = false;
}

static void nbd_fdwatch_cancel(struct nbd_fdwatch *fw)
{
	if (!fw->polling || fw->cancelling)
		return;
	fw->cancelling = true;
	loop_prep_cancel(&fw->cancel_op, &fw->poll_op);
	fw->cancel_op.done = nbd_fdwatch_cancelled;
	loop_submit(fw->srv->loop, &fw->cancel_op);
}

static int nbd_fdwatch_add(struct nbd_server *srv, int fd, bool own_fd, void (*fn)(void *ctx),
			   void *ctx)
{
	struct nbd_fdwatch *fw = calloc(1, sizeof(*fw));

	if (!fw)
		return -ENOMEM;
	fw->srv = srv;
	fw->fd = fd;
	fw->own_fd = own_fd;
	fw->fn = fn;
	fw->ctx = ctx;
	fw->polling = true;
	loop_prep_poll_multishot(&fw->poll_op, fd, POLLIN);
	fw->poll_op.done = nbd_fdwatch_polled;
	loop_submit(srv->loop, &fw->poll_op);
	fw->next = srv->fdwatches;
	srv->fdwatches = fw;
	return 0;
}

int nbd_server_watch_fd(struct nbd_server *srv, int fd, void (*fn)(void *ctx), void *ctx)
{
	return nbd_fdwatch_add(srv, fd, false, fn, ctx);
}

static void nbd_server_signalled(void *ctx)
{
	struct nbd_fdwatch *fw = ctx;
	struct signalfd_siginfo si;

	if (read(fw->fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		fprintf(stderr, "cryptblk: nbd: %s: finishing requests in flight, then exiting\n",
			strsignal((int)si.ssi_signo));
	nbd_server_stop(fw->srv);
}

int nbd_server_watch_signals(struct nbd_server *srv, const sigset_t *set)
{
	int fd = signalfd(-1, set, SFD_NONBLOCK | SFD_CLOEXEC);
	int ret;

	if (fd < 0)
		return -errno;
	ret = nbd_fdwatch_add(srv, fd, true, nbd_server_signalled, NULL);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	srv->fdwatches->ctx = srv->fdwatches; /* the callback reads its own fd */
	return 0;
}

void nbd_server_cancel_fdwatches(struct nbd_server *srv)
{
	for (struct nbd_fdwatch *fw = srv->fdwatches; fw; fw = fw->next)
		nbd_fdwatch_cancel(fw);
}

void nbd_server_free_fdwatches(struct nbd_server *srv)
{
	while (srv->fdwatches) {
		struct nbd_fdwatch *fw = srv->fdwatches;

		srv->fdwatches = fw->next;
		if (fw->own_fd)
			close(fw->fd);
		free(fw);
	}
}
