/* The remote NBD backend: ciphertext on an NBD export reached through
 * libnbd's asynchronous API, driven by the submitting thread's loop.
 *
 * This file holds what every loop shares: the export's geometry learned at
 * open, the connection of each loop, and the connected handles no loop uses
 * yet. The connections themselves live in nbd_conn.c. */
#include "nbd_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NBD_DEFAULT_RECONNECT_S 30u
/* The NBD protocol's default largest payload when the server names none. */
#define NBD_DEFAULT_MAX_RW (32u * 1024 * 1024)

static __thread char nbd_open_error[256];

const char *backend_nbd_error(void)
{
	return nbd_open_error;
}

static struct nbd_remote *nbd_remote_of(struct backend *be)
{
	return backend_container_of(be, struct nbd_remote, be);
}

struct nbd_handle *nbd_remote_handle_new(const struct nbd_remote *r)
{
	struct nbd_handle *h = nbd_create();

	(void)r;
	if (!h)
		return NULL;
	/* The URI comes from whoever runs the command: it may name TLS
	 * certificate and PSK files. Read buffers are ours to trust: libnbd
	 * need not zero them before every read. */
	/* Simple replies: a read's answer is one header and the data, two
	 * receives instead of four; nothing here needs structured replies. */
	if (nbd_set_uri_allow_local_file(h, true) < 0 || nbd_set_pread_initialize(h, false) < 0 ||
	    nbd_set_request_structured_replies(h, false) < 0) {
		nbd_close(h);
		return NULL;
	}
	return h;
}

int nbd_remote_handle_check(const struct nbd_remote *r, struct nbd_handle *h)
{
	int64_t size = nbd_get_size(h);

	if (size < 0 || (uint64_t)size != r->be.size)
		return -ESTALE;
	if (!r->be.read_only && nbd_is_read_only(h) == 1)
		return -EROFS;
	return 0;
}

void nbd_remote_spare_put(struct nbd_remote *r, struct nbd_handle *h)
{
	bool kept = false;

	pthread_mutex_lock(&r->lock);
	if (r->nr_spares == r->cap_spares) {
		unsigned cap = r->cap_spares ? 2 * r->cap_spares : 4;
		struct nbd_handle **s = realloc(r->spares, cap * sizeof(*s));

		if (s) {
			r->spares = s;
			r->cap_spares = cap;
		}
	}
	if (r->nr_spares < r->cap_spares) {
		r->spares[r->nr_spares++] = h;
		kept = true;
	}
	pthread_mutex_unlock(&r->lock);
	if (!kept)
		nbd_close(h);
}

struct nbd_handle *nbd_remote_spare_take(struct nbd_remote *r)
{
	struct nbd_handle *h = NULL;

	pthread_mutex_lock(&r->lock);
	if (r->nr_spares)
		h = r->spares[--r->nr_spares];
	pthread_mutex_unlock(&r->lock);
	return h;
}

/* 0 when the io may go to the remote, or the errno to complete it with. */
static int nbd_io_check(const struct nbd_remote *r, const struct backend_io *io)
{
	bool modifies = io->op == BACKEND_WRITE || io->op == BACKEND_DISCARD;

	if (io->op > BACKEND_DISCARD)
		return -EINVAL;
	if (modifies && r->be.read_only)
		return -EPERM;
	if (io->op == BACKEND_FLUSH)
		return 0;
	if (io->len == 0 || (io->op != BACKEND_DISCARD && !io->buf))
		return -EINVAL;
	if (io->offset > r->be.size || io->len > r->be.size - io->offset)
		return io->op == BACKEND_WRITE ? -ENOSPC : -EINVAL;
	if (io->op == BACKEND_DISCARD && !r->be.can_discard)
		return -EOPNOTSUPP;
	if (io->op != BACKEND_DISCARD && io->len > r->max_rw)
		return -EINVAL;
	return 0;
}

/* The connection of `loop`, made on its first I/O. Only the loop's own
 * thread adds or removes its entry, so finding none and adding one need
 * not happen under one lock. */
static struct nbd_conn *nbd_remote_conn_get(struct nbd_remote *r, struct loop *loop)
{
	struct nbd_conn *c;

	pthread_mutex_lock(&r->lock);
	for (c = r->conns; c && c->loop != loop; c = c->next)
		;
	pthread_mutex_unlock(&r->lock);
	if (c)
		return c;
	c = nbd_conn_new(r, loop);
	if (!c)
		return NULL;
	pthread_mutex_lock(&r->lock);
	c->next = r->conns;
	r->conns = c;
	pthread_mutex_unlock(&r->lock);
	return c;
}

static void nbd_remote_submit(struct backend *be, struct loop *loop, struct backend_io *io)
{
	struct nbd_remote *r = nbd_remote_of(be);
	struct nbd_conn *c;
	int err = nbd_io_check(r, io);

	if (!err && !(c = nbd_remote_conn_get(r, loop)))
		err = -ENOMEM;
	if (err) {
		backend_io_fail_later(loop, io, err);
		return;
	}
	io->loop = loop;
	io->done_bytes = 0;
	io->backend_priv = c;
	nbd_conn_queue(c, io);
}

static void nbd_remote_detach(struct backend *be, struct loop *loop)
{
	struct nbd_remote *r = nbd_remote_of(be);
	struct nbd_conn **pc, *c = NULL;

	pthread_mutex_lock(&r->lock);
	for (pc = &r->conns; *pc; pc = &(*pc)->next) {
		if ((*pc)->loop == loop) {
			c = *pc;
			*pc = c->next;
			break;
		}
	}
	pthread_mutex_unlock(&r->lock);
	if (c)
		nbd_conn_detach(c);
}

static void nbd_remote_close(struct backend *be)
{
	struct nbd_remote *r = nbd_remote_of(be);

	while (r->conns) {
		struct nbd_conn *c = r->conns;

		r->conns = c->next;
		nbd_conn_abandon(c);
	}
	for (unsigned i = 0; i < r->nr_spares; i++) {
		/* Say goodbye without waiting for the answer: a remote that
		 * hangs must not hang our exit. */
		nbd_aio_disconnect(r->spares[i], 0);
		nbd_close(r->spares[i]);
	}
	free(r->spares);
	pthread_mutex_destroy(&r->lock);
	free(r->uri);
	free(r);
}

static const struct backend_ops nbd_remote_ops = {
    .name = "nbd",
    .submit = nbd_remote_submit,
    .close = nbd_remote_close,
    .detach = nbd_remote_detach,
};

bool backend_nbd_multi_conn(const struct backend *be)
{
	/* Any other backend has no connections to keep coherent. */
	if (be->ops != &nbd_remote_ops)
		return true;
	return backend_container_of(be, const struct nbd_remote, be)->multi_conn;
}

static void nbd_open_error_set(const char *uri, const char *what)
{
	const char *msg = nbd_get_error();

	snprintf(nbd_open_error, sizeof(nbd_open_error), "%s: %s", uri,
		 what ? what : (msg ? msg : "failed"));
}

/* What the export is and can do, from the first connection. */
static int nbd_remote_learn(struct nbd_remote *r, struct nbd_handle *h, unsigned flags)
{
	int64_t size = nbd_get_size(h), min, max;

	if (size < 0) {
		nbd_open_error_set(r->uri, NULL);
		return -EIO;
	}
	r->be.size = (uint64_t)size;
	r->be.read_only = (flags & BACKEND_NBD_READONLY) != 0;
	if (!r->be.read_only && nbd_is_read_only(h) == 1) {
		nbd_open_error_set(r->uri, "the export is read-only");
		return -EROFS;
	}
	r->can_flush = nbd_can_flush(h) == 1;
	r->multi_conn = nbd_can_multi_conn(h) == 1;
	/* A discard must read back as zeros: NBD's WRITE_ZEROES (allowed to
	 * punch a hole) promises that, TRIM does not. */
	r->be.can_discard = !r->be.read_only && nbd_can_zero(h) == 1;
	min = nbd_get_block_size(h, LIBNBD_SIZE_MINIMUM);
	max = nbd_get_block_size(h, LIBNBD_SIZE_MAXIMUM);
	r->be.block_size = 512;
	if (min > 512 && min <= 65536 && (min & (min - 1)) == 0)
		r->be.block_size = (uint32_t)min;
	r->max_rw = max > 0 && max < NBD_DEFAULT_MAX_RW ? (uint32_t)max : NBD_DEFAULT_MAX_RW;
	return 0;
}

int backend_nbd_open(const char *uri, unsigned flags, unsigned reconnect_timeout_s,
		     struct backend **out)
{
	struct nbd_remote *r;
	struct nbd_handle *h = NULL;
	int err = 0;

	*out = NULL;
	nbd_open_error[0] = '\0';
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->be.ops = &nbd_remote_ops;
	pthread_mutex_init(&r->lock, NULL);
	r->reconnect_timeout_ns =
	    (uint64_t)(reconnect_timeout_s ? reconnect_timeout_s : NBD_DEFAULT_RECONNECT_S) *
	    1000000000u;
	r->uri = strdup(uri);
	h = r->uri ? nbd_remote_handle_new(r) : NULL;
	if (!h) {
		err = -ENOMEM;
		goto out;
	}
	/* Blocking, once: open runs before any loop does. */
	if (nbd_connect_uri(h, uri) < 0) {
		err = nbd_get_errno() ? -nbd_get_errno() : -EIO;
		nbd_open_error_set(uri, NULL);
		goto out;
	}
	err = nbd_remote_learn(r, h, flags);
	if (err)
		goto out;
	/* The first loop to submit adopts this connection. */
	nbd_remote_spare_put(r, h);
	h = NULL;
out:
	if (h)
		nbd_close(h);
	if (err) {
		nbd_remote_close(&r->be);
		return err;
	}
	*out = &r->be;
	return 0;
}
