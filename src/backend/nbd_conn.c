/* One loop's connection to the remote NBD export.
 *
 * libnbd's state machine runs on the loop's thread: one-shot polls on the
 * handle's socket (POLLIN whenever libnbd would read, which is always once
 * connected; POLLOUT while it has bytes to send) call nbd_aio_notify_read
 * or _write, and are armed again from the handle's direction after every
 * call into libnbd. Completion callbacks only note the result; done() runs
 * from the conn's progress function, so never inside backend_submit() nor
 * inside libnbd.
 *
 * When the link dies, libnbd fails what it carried with ENOTCONN; those
 * I/Os wait in the held list and are sent again on the next link (reads
 * and writes of whole blocks are idempotent). Reconnection never blocks:
 * nbd_aio_connect_uri is driven by the same polls, attempts are paced by a
 * timer with exponential backoff, and I/Os still held when the reconnect
 * timeout has passed fail with EIO while attempts go on. */
#include "nbd_priv.h"

#include <cryptblk/clock.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#define NBD_BACKOFF_FIRST_MS 50u
#define NBD_BACKOFF_MAX_MS   2000u
/* An attempt that has not finished its handshake by then starts over. */
#define NBD_CONNECT_TIMEOUT_NS (10ull * 1000000000u)
/* Replies read per POLLIN before the loop gets the thread back. */
#define NBD_NOTIFY_BATCH 64
/* How often an attempt in progress is checked against its deadlines. */
#define NBD_CHECK_MS 250u

static void nbd_conn_after(struct nbd_conn *c);
static void nbd_conn_timer_arm(struct nbd_conn *c);
static void nbd_conn_attempt(struct nbd_conn *c);

static struct backend_io *nbd_io_of(struct loop_op *op)
{
	return op ? backend_io_of_op(op) : NULL;
}

/* The held and done lists thread through the io's loop op, which is idle
 * while libnbd or this file owns the io. */
static void nbd_list_push(struct backend_io **head, struct backend_io **tail, struct backend_io *io)
{
	io->op_.next = NULL;
	if (*tail)
		(*tail)->op_.next = &io->op_;
	else
		*head = io;
	*tail = io;
}

static struct backend_io *nbd_list_pop(struct backend_io **head, struct backend_io **tail)
{
	struct backend_io *io = *head;

	if (io) {
		*head = nbd_io_of(io->op_.next);
		if (!*head)
			*tail = NULL;
		io->op_.next = NULL;
	}
	return io;
}

/* `err` is a positive errno or 0; done() follows from the progress function. */
static void nbd_conn_finish(struct nbd_conn *c, struct backend_io *io, int err)
{
	io->done_bytes = (uint32_t)err;
	nbd_list_push(&c->done_head, &c->done_tail, io);
}

static int nbd_io_completed(void *user_data, int *error)
{
	struct backend_io *io = user_data;
	struct nbd_conn *c = io->backend_priv;

	c->completions++;
	nbd_conn_finish(c, io, *error);
	return 1; /* retire the command: nobody asks libnbd about it again */
}

/* ------------------------------------------------------------------ */
/* Links: a handle and its polls                                       */

static void nbd_conn_maybe_free(struct nbd_conn *c)
{
	if (c->detached && !c->timer_armed && !c->timer_cancelling && !c->nr_links)
		free(c);
}

static void nbd_link_maybe_free(struct nbd_link *l)
{
	struct nbd_conn *c = l->conn;

	if (!l->retired || l->ops)
		return;
	if (l->park && nbd_aio_is_ready(l->h) && nbd_aio_in_flight(l->h) == 0)
		nbd_remote_spare_put(c->r, l->h);
	else
		nbd_close(l->h);
	free(l);
	c->nr_links--;
	nbd_conn_maybe_free(c);
}

static void nbd_link_cancel(struct nbd_link *l, struct loop_op *cancel, struct loop_op *target,
			    bool *cancelling)
{
	*cancelling = true;
	l->ops++;
	loop_prep_cancel(cancel, target);
	loop_submit(l->conn->loop, cancel);
}

/* A live link about to go must first give back every command it carries:
 * nbd_close() would drop them without a completion. Shutting the socket
 * down and letting libnbd notice makes it fail them all with ENOTCONN, so
 * they are sent again elsewhere. */
static void nbd_link_abort(struct nbd_link *l)
{
	int fd = nbd_aio_get_fd(l->h);

	if (fd < 0 || nbd_aio_in_flight(l->h) <= 0)
		return;
	shutdown(fd, SHUT_RDWR);
	if (!nbd_aio_is_dead(l->h) && !nbd_aio_is_closed(l->h))
		nbd_aio_notify_read(l->h);
	if (!nbd_aio_is_dead(l->h) && !nbd_aio_is_closed(l->h))
		nbd_aio_notify_write(l->h);
}

/* Stop using the link; its handle is closed, or kept for another loop when
 * `park`, once no poll holds its socket. */
static void nbd_link_retire(struct nbd_link *l, bool park)
{
	nbd_link_abort(l);
	l->retired = true;
	l->park = park;
	if (l->rfd >= 0 && !l->rcancelling)
		nbd_link_cancel(l, &l->rcancel, &l->rpoll, &l->rcancelling);
	if (l->wfd >= 0 && !l->wcancelling)
		nbd_link_cancel(l, &l->wcancel, &l->wpoll, &l->wcancelling);
	nbd_link_maybe_free(l);
}

/* Let libnbd read every reply that is already here: each call reads at
 * most one, and a poll round trip per reply costs more than asking the
 * socket how much it holds. libnbd must never be told to read when nothing
 * is there: it would wait inside a reply and hold back new commands. */
static void nbd_link_notify_read(struct nbd_link *l)
{
	for (int i = 0; i < NBD_NOTIFY_BATCH; i++) {
		unsigned before = l->conn->completions;
		int avail = 0, fd;

		if (nbd_aio_notify_read(l->h) < 0 || l->conn->completions == before)
			break;
		if (!(nbd_aio_get_direction(l->h) & LIBNBD_AIO_DIRECTION_READ))
			break;
		fd = nbd_aio_get_fd(l->h);
		if (fd < 0 || ioctl(fd, FIONREAD, &avail) < 0 || avail <= 0)
			break;
	}
}

static void nbd_link_polled(struct nbd_link *l, int res, bool readable)
{
	unsigned dir;

	if (l->retired) {
		nbd_link_maybe_free(l);
		return;
	}
	/* res < 0: our own cancel (the fd changed) or a poll error; either
	 * way the direction decides what to arm next. */
	if (res > 0) {
		dir = nbd_aio_get_direction(l->h);
		if (readable && (dir & LIBNBD_AIO_DIRECTION_READ))
			nbd_link_notify_read(l);
		else if (!readable && (dir & LIBNBD_AIO_DIRECTION_WRITE))
			nbd_aio_notify_write(l->h);
	}
	nbd_conn_after(l->conn);
}

static void nbd_link_rpolled(struct loop_op *op, int res, uint32_t cqe_flags)
{
	struct nbd_link *l = backend_container_of(op, struct nbd_link, rpoll);

	(void)cqe_flags;
	l->rfd = -1;
	l->ops--;
	nbd_link_polled(l, res, true);
}

static void nbd_link_wpolled(struct loop_op *op, int res, uint32_t cqe_flags)
{
	struct nbd_link *l = backend_container_of(op, struct nbd_link, wpoll);

	(void)cqe_flags;
	l->wfd = -1;
	l->ops--;
	nbd_link_polled(l, res, false);
}

static void nbd_link_rcancelled(struct loop_op *op, int res, uint32_t cqe_flags)
{
	struct nbd_link *l = backend_container_of(op, struct nbd_link, rcancel);

	(void)res;
	(void)cqe_flags;
	l->rcancelling = false;
	l->ops--;
	nbd_link_maybe_free(l);
}

static void nbd_link_wcancelled(struct loop_op *op, int res, uint32_t cqe_flags)
{
	struct nbd_link *l = backend_container_of(op, struct nbd_link, wcancel);

	(void)res;
	(void)cqe_flags;
	l->wcancelling = false;
	l->ops--;
	nbd_link_maybe_free(l);
}

/* Keep one poll of a kind armed on the handle's current socket while
 * libnbd wants that direction. A poll on a socket libnbd has replaced (a
 * TCP connect moving to the next address) is cancelled first. */
static void nbd_link_arm_one(struct nbd_link *l, struct loop_op *poll, struct loop_op *cancel,
			     int *pfd, bool *cancelling, int fd, uint32_t mask)
{
	if (*pfd >= 0) {
		if (*pfd != fd && !*cancelling)
			nbd_link_cancel(l, cancel, poll, cancelling);
		return;
	}
	if (!mask || fd < 0)
		return;
	*pfd = fd;
	l->ops++;
	loop_prep_poll(poll, fd, mask);
	loop_submit(l->conn->loop, poll);
}

static void nbd_link_arm(struct nbd_link *l)
{
	int fd = nbd_aio_get_fd(l->h);
	int dir = nbd_aio_get_direction(l->h);

	l->rpoll.done = nbd_link_rpolled;
	l->wpoll.done = nbd_link_wpolled;
	l->rcancel.done = nbd_link_rcancelled;
	l->wcancel.done = nbd_link_wcancelled;
	nbd_link_arm_one(l, &l->rpoll, &l->rcancel, &l->rfd, &l->rcancelling, fd,
			 (dir & LIBNBD_AIO_DIRECTION_READ) ? POLLIN : 0);
	nbd_link_arm_one(l, &l->wpoll, &l->wcancel, &l->wfd, &l->wcancelling, fd,
			 (dir & LIBNBD_AIO_DIRECTION_WRITE) ? POLLOUT : 0);
}

static bool nbd_link_gone(struct nbd_link *l)
{
	return nbd_aio_is_dead(l->h) || nbd_aio_is_closed(l->h);
}

/* ------------------------------------------------------------------ */
/* The conn: sending, holding, reconnecting                            */

static bool nbd_conn_usable(const struct nbd_conn *c)
{
	return c->link && c->link->up && !c->link->draining;
}

static uint32_t nbd_conn_backoff_next(struct nbd_conn *c)
{
	if (c->backoff_ms == 0)
		c->backoff_ms = NBD_BACKOFF_FIRST_MS;
	else if (c->backoff_ms < NBD_BACKOFF_MAX_MS)
		c->backoff_ms =
		    2 * c->backoff_ms > NBD_BACKOFF_MAX_MS ? NBD_BACKOFF_MAX_MS : 2 * c->backoff_ms;
	return c->backoff_ms;
}

/* Hand `io` to libnbd on the usable link. */
static void nbd_conn_send(struct nbd_conn *c, struct backend_io *io)
{
	struct nbd_handle *h = c->link->h;
	nbd_completion_callback cb = {.callback = nbd_io_completed, .user_data = io};
	int64_t cookie = -1;

	switch (io->op) {
	case BACKEND_READ:
		cookie = nbd_aio_pread(h, io->buf, io->len, io->offset, cb, 0);
		break;
	case BACKEND_WRITE:
		cookie = nbd_aio_pwrite(h, io->buf, io->len, io->offset, cb, 0);
		break;
	case BACKEND_FLUSH:
		if (!c->r->can_flush) {
			/* A remote without flush writes through. */
			nbd_conn_finish(c, io, 0);
			return;
		}
		cookie = nbd_aio_flush(h, cb, 0);
		break;
	case BACKEND_DISCARD:
		/* Without NBD_CMD_FLAG_NO_HOLE: the remote may punch a hole,
		 * and the range reads back as zeros either way. */
		cookie = nbd_aio_zero(h, io->len, io->offset, cb, 0);
		break;
	}
	if (cookie >= 0)
		return;
	if (nbd_link_gone(c->link))
		nbd_list_push(&c->held_head, &c->held_tail, io);
	else
		nbd_conn_finish(c, io, nbd_get_errno() ? nbd_get_errno() : EIO);
}

static void nbd_conn_up(struct nbd_conn *c)
{
	struct backend_io *io;

	c->link->up = true;
	if (c->said_down && c->down_since_ns)
		fprintf(stderr, "cryptblk: nbd backend: %s: connected again after %.1f s\n",
			c->r->uri, (double)(clock_now_ns() - c->down_since_ns) / 1e9);
	c->said_down = false;
	c->down_since_ns = 0;
	c->failing = false;
	/* A send that finds the link dead holds its io again: stop there, the
	 * caller notices the death. */
	while (nbd_conn_usable(c) && !nbd_link_gone(c->link) &&
	       (io = nbd_list_pop(&c->held_head, &c->held_tail)))
		nbd_conn_send(c, io);
}

static void nbd_conn_link_lost(struct nbd_conn *c)
{
	struct nbd_link *l = c->link;
	bool was_up = l->up;
	const char *err = nbd_get_error();
	char why[160];

	/* A clean close sets no error: the thread's last one may be old. Copy
	 * it now: the next libnbd call may overwrite it. */
	snprintf(why, sizeof(why), "%s",
		 nbd_aio_is_closed(l->h) ? "closed by the remote" : (err ? err : "closed"));
	c->link = NULL;
	nbd_link_retire(l, false);
	if (!c->down_since_ns)
		c->down_since_ns = clock_now_ns();
	if (was_up && !c->said_down) {
		fprintf(stderr, "cryptblk: nbd backend: %s: connection lost (%s); reconnecting\n",
			c->r->uri, why);
		c->said_down = true;
	}
	/* The first drop after a working link is retried at once; a link that
	 * keeps dropping before any command succeeds waits longer each time. */
	if (was_up && c->backoff_ms == 0) {
		nbd_conn_backoff_next(c);
		nbd_conn_attempt(c);
	} else {
		nbd_conn_timer_arm(c);
	}
}

/* After every call into libnbd on the current link: notice a dead link or
 * a finished handshake, then arm the polls the handle's direction asks for. */
static void nbd_conn_after(struct nbd_conn *c)
{
	struct nbd_link *l;

	while ((l = c->link)) {
		if (nbd_link_gone(l)) {
			nbd_conn_link_lost(c);
			continue; /* an attempt may have made a new link */
		}
		if (!l->up && (nbd_aio_is_ready(l->h) || nbd_aio_is_processing(l->h))) {
			if (nbd_remote_handle_check(c->r, l->h) < 0) {
				/* Another export, or one now read-only: not ours. */
				c->link = NULL;
				nbd_link_retire(l, false);
				nbd_conn_timer_arm(c);
				return;
			}
			nbd_conn_up(c);
			continue;
		}
		nbd_link_arm(l);
		return;
	}
}

static void nbd_conn_attempt(struct nbd_conn *c)
{
	struct nbd_handle *h = nbd_remote_spare_take(c->r);
	struct nbd_link *l;

	if (h && (nbd_aio_is_dead(h) || nbd_aio_is_closed(h))) {
		nbd_close(h);
		h = NULL;
	}
	if (!h) {
		h = nbd_remote_handle_new(c->r);
		if (h && nbd_aio_connect_uri(h, c->r->uri) < 0) {
			nbd_close(h);
			h = NULL;
		}
	}
	l = h ? calloc(1, sizeof(*l)) : NULL;
	if (!l) {
		if (h)
			nbd_close(h);
		nbd_conn_timer_arm(c);
		return;
	}
	l->conn = c;
	l->h = h;
	l->rfd = l->wfd = -1;
	l->started_ns = clock_now_ns();
	c->nr_links++;
	c->link = l;
	nbd_conn_after(c);
}

/* Fail what waits for a link: the reconnect timeout has passed. */
static void nbd_conn_fail_held(struct nbd_conn *c)
{
	struct backend_io *io;

	c->failing = true;
	fprintf(stderr,
		"cryptblk: nbd backend: %s: no connection for %.0f s; failing I/O with EIO "
		"while reconnecting\n",
		c->r->uri, (double)c->r->reconnect_timeout_ns / 1e9);
	while ((io = nbd_list_pop(&c->held_head, &c->held_tail)))
		nbd_conn_finish(c, io, EIO);
}

static void nbd_conn_ticked(struct loop_op *op, int res, uint32_t cqe_flags)
{
	struct nbd_conn *c = backend_container_of(op, struct nbd_conn, timer_op);
	uint64_t now = clock_now_ns();

	(void)res;
	(void)cqe_flags;
	c->timer_armed = false;
	if (c->detached) {
		nbd_conn_maybe_free(c);
		return;
	}
	if (nbd_conn_usable(c))
		return;
	if (!c->failing && c->down_since_ns && now - c->down_since_ns >= c->r->reconnect_timeout_ns)
		nbd_conn_fail_held(c);
	/* A handshake that does not finish, or a remote that said it shuts
	 * down and never closes: start over. */
	if (c->link && (!c->link->up || c->link->draining) &&
	    now - c->link->started_ns >= NBD_CONNECT_TIMEOUT_NS) {
		struct nbd_link *l = c->link;

		if (!c->down_since_ns)
			c->down_since_ns = now;
		c->link = NULL;
		nbd_link_retire(l, false);
	}
	if (!c->link)
		nbd_conn_attempt(c);
	/* Keep ticking while not connected: the timeout and the attempt's
	 * own deadline are checked here. */
	if (!nbd_conn_usable(c))
		nbd_conn_timer_arm(c);
}

static void nbd_conn_timer_cancelled(struct loop_op *op, int res, uint32_t cqe_flags)
{
	struct nbd_conn *c = backend_container_of(op, struct nbd_conn, timer_cancel);

	(void)res;
	(void)cqe_flags;
	c->timer_cancelling = false;
	nbd_conn_maybe_free(c);
}

/* The next tick: the backoff, or sooner when the reconnect timeout ends
 * first. */
static void nbd_conn_timer_arm(struct nbd_conn *c)
{
	uint64_t ms;

	if (c->timer_armed || c->detached)
		return;
	ms = c->link ? NBD_CHECK_MS : nbd_conn_backoff_next(c);
	if (!c->failing && c->down_since_ns) {
		uint64_t end = c->down_since_ns + c->r->reconnect_timeout_ns, now = clock_now_ns();
		uint64_t left = end > now ? (end - now) / 1000000u + 1 : 1;

		if (left < ms)
			ms = left;
	}
	c->timer_ts.tv_sec = (long long)(ms / 1000);
	c->timer_ts.tv_nsec = (long long)(ms % 1000) * 1000000;
	c->timer_armed = true;
	loop_prep_timeout(&c->timer_op, &c->timer_ts);
	c->timer_op.done = nbd_conn_ticked;
	loop_submit(c->loop, &c->timer_op);
}

/* ------------------------------------------------------------------ */
/* The conn's life                                                     */

/* The server is going away (it answered ESHUTDOWN): send it nothing more,
 * let it finish what it has, and reconnect once it has closed. */
static void nbd_conn_drain_link(struct nbd_conn *c)
{
	struct nbd_link *l = c->link;

	if (!l || !l->up || l->draining)
		return;
	l->draining = true;
	l->started_ns = clock_now_ns();
	if (!c->said_down) {
		fprintf(stderr,
			"cryptblk: nbd backend: %s: the remote is shutting down (ESHUTDOWN); "
			"reconnecting\n",
			c->r->uri);
		c->said_down = true;
	}
	if (nbd_aio_disconnect(l->h, 0) < 0) {
		c->link = NULL;
		nbd_link_retire(l, false);
		nbd_conn_timer_arm(c);
		return;
	}
	nbd_conn_timer_arm(c); /* watches the drain's deadline */
	nbd_conn_after(c);
}

void nbd_conn_queue(struct nbd_conn *c, struct backend_io *io)
{
	if (nbd_conn_usable(c)) {
		nbd_conn_send(c, io);
		nbd_conn_after(c);
		return;
	}
	if (c->failing) {
		nbd_conn_finish(c, io, EIO);
		return;
	}
	nbd_list_push(&c->held_head, &c->held_tail, io);
	if (!c->down_since_ns)
		c->down_since_ns = clock_now_ns();
	if (!c->link && !c->timer_armed)
		nbd_conn_attempt(c);
}

/* Run the done() of every io libnbd finished, on the loop, outside libnbd. */
static unsigned nbd_conn_progress(void *ctx)
{
	struct nbd_conn *c = ctx;
	struct backend_io *io;
	unsigned n = 0;

	while ((io = nbd_list_pop(&c->done_head, &c->done_tail))) {
		int err = (int)io->done_bytes;

		n++;
		if (err == ENOTCONN || err == ESHUTDOWN) {
			/* Not an answer about the data: the link is going.
			 * Send it again on the next one. */
			if (err == ESHUTDOWN)
				nbd_conn_drain_link(c);
			nbd_conn_queue(c, io);
			continue;
		}
		if (err == 0)
			c->backoff_ms = 0;
		io->done_bytes = 0;
		io->done(io, -err);
	}
	return n;
}

struct nbd_conn *nbd_conn_new(struct nbd_remote *r, struct loop *loop)
{
	struct nbd_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->r = r;
	c->loop = loop;
	c->timer_cancel.done = nbd_conn_timer_cancelled;
	if (loop_progress_add(loop, nbd_conn_progress, c) < 0) {
		free(c);
		return NULL;
	}
	return c;
}

void nbd_conn_detach(struct nbd_conn *c)
{
	struct backend_io *io;

	c->detached = true;
	loop_progress_remove(c->loop, nbd_conn_progress, c);
	if (c->link) {
		struct nbd_link *l = c->link;

		c->link = NULL;
		nbd_link_retire(l, l->up && !l->draining);
	}
	/* The caller promised nothing is in flight; anything left over is
	 * finished rather than forgotten. */
	while ((io = nbd_list_pop(&c->done_head, &c->done_tail))) {
		int err = (int)io->done_bytes;

		io->done_bytes = 0;
		io->done(io, err == ENOTCONN || err == ESHUTDOWN ? -ECANCELED : -err);
	}
	while ((io = nbd_list_pop(&c->held_head, &c->held_tail)))
		io->done(io, -ECANCELED);
	if (c->timer_armed && !c->timer_cancelling) {
		c->timer_cancelling = true;
		loop_prep_cancel(&c->timer_cancel, &c->timer_op);
		loop_submit(c->loop, &c->timer_cancel);
	}
	nbd_conn_maybe_free(c);
}

void nbd_conn_abandon(struct nbd_conn *c)
{
	/* The loop is gone without a detach: nothing of it can run again.
	 * Close the handle; the conn's memory goes with it. */
	if (c->link)
		nbd_close(c->link->h);
	free(c->link);
	free(c);
}
