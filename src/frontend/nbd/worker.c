/* A worker thread: its own loop and volume, the connections handed to it,
 * and its part of the shutdown (drain, flush, close). */
#include "nbd_int.h"

#include <cryptblk/clock.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

void nbd_worker_wake(struct nbd_worker *w)
{
	uint64_t one = 1;
	ssize_t n = write(w->wake_fd, &one, sizeof(one));

	/* EAGAIN means the counter is already huge: the worker is woken. */
	(void)n;
}

static void nbd_worker_woken(void *ctx)
{
	/* The progress function, run after this batch, does the work. */
	(void)ctx;
}

/* Sockets handed over by nbd_server_add_fd on other threads. */
static unsigned nbd_worker_take_fds(struct nbd_worker *w)
{
	int *fds;
	unsigned n;

	pthread_mutex_lock(&w->mutex);
	fds = w->new_fds;
	n = w->nr_new_fds;
	w->new_fds = NULL;
	w->nr_new_fds = w->cap_new_fds = 0;
	pthread_mutex_unlock(&w->mutex);
	for (unsigned i = 0; i < n; i++) {
		if (w->draining) {
			close(fds[i]);
			nbd_server_conn_gone(w->srv);
		} else if (nbd_conn_start(w, fds[i]) < 0)
			fprintf(stderr, "cryptblk: nbd: connection: out of memory\n");
	}
	free(fds);
	return n;
}

static void nbd_worker_tick_cancelled(struct loop_op *op, int res, uint32_t cqe_flags)
{
	(void)op;
	(void)res;
	(void)cqe_flags;
}

static void nbd_worker_tick_arm(struct nbd_worker *w);

/* Close connections that did not reach transmission in time: a client that
 * connects and never finishes negotiating must not hold a slot forever. */
static void nbd_worker_tick(struct loop_op *op, int res, uint32_t cqe_flags)
{
	struct nbd_worker *w =
	    (struct nbd_worker *)((char *)op - offsetof(struct nbd_worker, tick_op));
	struct nbd_conn *c, *next;
	uint64_t now;
	char why[64];

	(void)res;
	(void)cqe_flags;
	w->tick_armed = false;
	if (w->draining)
		return;
	now = clock_now_ns();
	for (c = w->conns; c; c = next) {
		next = c->next;
		if ((c->state != NBD_CONN_HANDSHAKE && c->state != NBD_CONN_OPTIONS) ||
		    now < c->deadline_ns)
			continue;
		snprintf(why, sizeof(why), "handshake not finished within %u s",
			 w->srv->cfg.handshake_timeout);
		nbd_conn_fail(c, why);
		nbd_conn_maybe_close(c);
	}
	nbd_worker_tick_arm(w);
}

static void nbd_worker_tick_arm(struct nbd_worker *w)
{
	w->tick_ts.tv_sec = 1;
	w->tick_ts.tv_nsec = 0;
	loop_prep_timeout(&w->tick_op, &w->tick_ts);
	w->tick_op.done = nbd_worker_tick;
	w->tick_armed = true;
	loop_submit(w->loop, &w->tick_op);
}

static void nbd_worker_drain(struct nbd_worker *w)
{
	struct nbd_conn *c, *next;

	w->draining = true;
	if (w->tick_armed) {
		loop_prep_cancel(&w->tick_cancel_op, &w->tick_op);
		w->tick_cancel_op.done = nbd_worker_tick_cancelled;
		loop_submit(w->loop, &w->tick_cancel_op);
	}
	for (c = w->conns; c; c = c->next)
		nbd_conn_drain(c);
	for (c = w->conns; c; c = next) {
		next = c->next;
		nbd_conn_maybe_close(c);
	}
}

static void nbd_worker_flushed(struct volume_req *vr, int res)
{
	struct nbd_worker *w = vr->priv;

	if (res < 0) {
		fprintf(stderr, "cryptblk: nbd: worker %u: final flush: %s\n", w->index,
			strerror(-res));
		if (!w->error)
			w->error = res;
	}
	w->flushing = false;
	w->finished = true;
}

static unsigned nbd_worker_progress(void *ctx);

/* After the final flush: close the volume and let the loop run dry. */
static void nbd_worker_close(struct nbd_worker *w)
{
	w->srv->cfg.ops->close(w->srv->cfg.ctx, w->index, w->vol);
	w->vol = NULL;
	loop_progress_remove(w->loop, nbd_worker_progress, w);
	loop_watch_remove(w->wake_watch);
	w->wake_watch = NULL;
}

static unsigned nbd_worker_progress(void *ctx)
{
	struct nbd_worker *w = ctx;
	unsigned n = 0;

	n += nbd_worker_take_fds(w);
	n += nbd_worker_run_grants(w);
	if (!w->draining && atomic_load(&w->srv->stopping)) {
		nbd_worker_drain(w);
		n++;
	}
	if (w->draining && !w->nr_conns && !w->flushing && !w->finished) {
		w->flushing = true;
		memset(&w->flush_req, 0, sizeof(w->flush_req));
		w->flush_req.op = VOLUME_FLUSH;
		w->flush_req.done = nbd_worker_flushed;
		w->flush_req.priv = w;
		volume_submit(w->vol, &w->flush_req);
		n++;
	}
	if (w->finished && w->vol && volume_inflight(w->vol) == 0) {
		nbd_worker_close(w);
		n++;
	}
	return n;
}

static void nbd_worker_started(struct nbd_worker *w, int err)
{
	pthread_mutex_lock(&w->start_mutex);
	w->started = true;
	w->start_error = err;
	pthread_cond_signal(&w->start_cond);
	pthread_mutex_unlock(&w->start_mutex);
}

static int nbd_worker_setup(struct nbd_worker *w)
{
	const struct nbd_server_config *cfg = &w->srv->cfg;
	int ret;

	ret = loop_create(256, &w->loop);
	if (ret < 0) {
		fprintf(stderr, "cryptblk: nbd: worker %u: io_uring: %s\n", w->index,
			strerror(-ret));
		return ret;
	}
	ret = cfg->ops->open(cfg->ctx, w->index, w->loop, &w->vol);
	if (ret < 0)
		return ret;
	w->size = volume_size(w->vol);
	w->sector_size = volume_sector_size(w->vol);
	w->read_only = cfg->read_only || volume_read_only(w->vol);
	ret = loop_watch_eventfd(w->loop, w->wake_fd, nbd_worker_woken, w, &w->wake_watch);
	if (ret < 0)
		return ret;
	ret = loop_progress_add(w->loop, nbd_worker_progress, w);
	if (ret < 0)
		return ret;
	nbd_worker_tick_arm(w);
	return 0;
}

static void *nbd_worker_main(void *arg)
{
	struct nbd_worker *w = arg;
	int ret = nbd_worker_setup(w);

	nbd_worker_started(w, ret);
	if (ret == 0) {
		ret = loop_run(w->loop);
		if (ret < 0) {
			fprintf(stderr, "cryptblk: nbd: worker %u: loop: %s\n", w->index,
				strerror(-ret));
			if (!w->error)
				w->error = ret;
		}
	} else {
		/* Undo a partial set-up; let cancelled ops complete first. */
		if (w->wake_watch)
			loop_watch_remove(w->wake_watch);
		if (w->vol)
			w->srv->cfg.ops->close(w->srv->cfg.ctx, w->index, w->vol);
		w->vol = NULL;
	}
	if (w->loop) {
		while (loop_inflight(w->loop) && loop_run_once(w->loop, true) == 0)
			;
		loop_destroy(w->loop);
		w->loop = NULL;
	}
	nbd_pool_destroy(w);
	return NULL;
}

int nbd_worker_start(struct nbd_worker *w)
{
	int ret;

	w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->wake_fd < 0)
		return -errno;
	ret = -pthread_create(&w->thread, NULL, nbd_worker_main, w);
	if (ret < 0)
		return ret;
	w->thread_started = true;
	pthread_mutex_lock(&w->start_mutex);
	while (!w->started)
		pthread_cond_wait(&w->start_cond, &w->start_mutex);
	ret = w->start_error;
	pthread_mutex_unlock(&w->start_mutex);
	return ret;
}

int nbd_worker_hand_fd(struct nbd_worker *w, int fd)
{
	int ret = 0;

	pthread_mutex_lock(&w->mutex);
	if (w->nr_new_fds == w->cap_new_fds) {
		unsigned cap = w->cap_new_fds ? w->cap_new_fds * 2 : 8;
		int *p = realloc(w->new_fds, cap * sizeof(*p));

		if (p) {
			w->new_fds = p;
			w->cap_new_fds = cap;
		} else {
			ret = -ENOMEM;
		}
	}
	if (ret == 0)
		w->new_fds[w->nr_new_fds++] = fd;
	pthread_mutex_unlock(&w->mutex);
	if (ret < 0) {
		close(fd);
		nbd_server_conn_gone(w->srv);
	} else {
		nbd_worker_wake(w);
	}
	return ret;
}
