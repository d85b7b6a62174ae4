/* A connection: exact-length receives, the serialized send queue and the
 * connection's lifetime. Every socket operation goes through the worker's
 * io_uring loop. After NBD_OPT_STARTTLS receives and sends go through the
 * record layer in tls.c instead. See docs/architecture.md, "NBD server". */
#include "nbd_int.h"

#include <cryptblk/clock.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct nbd_conn *nbd_conn_of(struct loop_op *op, size_t member)
{
	return (struct nbd_conn *)((char *)op - member);
}

static void nbd_conn_recv_done(struct loop_op *op, int res, uint32_t cqe_flags);

static void nbd_conn_recv_arm(struct nbd_conn *c)
{
	c->recv_busy = true;
	loop_prep_recv(&c->recv_op, c->fd, c->recv_buf + c->recv_done, c->recv_len - c->recv_done,
		       MSG_WAITALL);
	c->recv_op.done = nbd_conn_recv_done;
	loop_submit(c->w->loop, &c->recv_op);
}

static void nbd_conn_recv_done(struct loop_op *op, int res, uint32_t cqe_flags)
{
	struct nbd_conn *c = nbd_conn_of(op, offsetof(struct nbd_conn, recv_op));
	int err = 0;

	(void)cqe_flags;
	c->recv_busy = false;
	if (res == -EINTR || res == -EAGAIN) {
		nbd_conn_recv_arm(c);
		return;
	}
	if (c->fatal)
		err = -ECONNRESET;
	else if (res < 0)
		err = res;
	else if (res == 0)
		err = c->recv_done ? -ECONNRESET : -ENODATA;
	else
		c->recv_done += (uint32_t)res;
	if (!err && c->recv_done < c->recv_len) {
		nbd_conn_recv_arm(c);
		return;
	}
	nbd_conn_recv_finish(c, err);
	nbd_conn_maybe_close(c);
}

void nbd_conn_recv_finish(struct nbd_conn *c, int err)
{
	nbd_recv_fn cb = c->recv_cb;

	c->recv_cb = NULL;
	cb(c, err);
}

void nbd_conn_recv(struct nbd_conn *c, void *buf, uint32_t len, nbd_recv_fn cb)
{
	c->recv_buf = buf;
	c->recv_len = len;
	c->recv_done = 0;
	c->recv_cb = cb;
	if (len == 0) {
		/* Nothing to wait for; keep the callback off this stack frame's
		 * caller anyway so callers see one behaviour. */
		c->recv_cb = NULL;
		cb(c, 0);
		return;
	}
	if (c->tls)
		nbd_tls_recv_arm(c);
	else
		nbd_conn_recv_arm(c);
}

static void nbd_conn_send_done(struct loop_op *op, int res, uint32_t cqe_flags);

static void nbd_conn_send_arm(struct nbd_conn *c)
{
	struct nbd_send *s = c->send_head;

	c->send_busy = true;
	loop_prep_send(&c->send_op, c->fd, s->buf + s->done, s->len - s->done, MSG_NOSIGNAL);
	c->send_op.done = nbd_conn_send_done;
	loop_submit(c->w->loop, &c->send_op);
}

/* Take the head message off the queue and give it back to its owner. */
void nbd_conn_send_pop(struct nbd_conn *c, int err)
{
	struct nbd_send *s = c->send_head;

	if (c->tls_raw)
		c->tls_raw--;
	c->send_head = s->next;
	if (!c->send_head)
		c->send_tail = NULL;
	s->next = NULL;
	s->sent(s, err);
}

void nbd_conn_send_drop_all(struct nbd_conn *c)
{
	while (c->send_head)
		nbd_conn_send_pop(c, -ECONNRESET);
}

void nbd_conn_send_kick(struct nbd_conn *c)
{
	if (c->tls && !c->tls_raw)
		nbd_tls_send_kick(c);
	else if (!c->send_busy && c->send_head)
		nbd_conn_send_arm(c);
}

static void nbd_conn_send_done(struct loop_op *op, int res, uint32_t cqe_flags)
{
	struct nbd_conn *c = nbd_conn_of(op, offsetof(struct nbd_conn, send_op));
	struct nbd_send *s = c->send_head;

	(void)cqe_flags;
	c->send_busy = false;
	if (c->fatal) {
		nbd_conn_send_drop_all(c);
		nbd_conn_maybe_close(c);
		return;
	}
	if (res == -EINTR || res == -EAGAIN) {
		nbd_conn_send_arm(c);
		return;
	}
	if (res <= 0) {
		nbd_conn_fail(c, res == 0 ? "send made no progress" : strerror(-res));
		nbd_conn_maybe_close(c);
		return;
	}
	s->done += (uint32_t)res;
	if (s->done < s->len) {
		nbd_conn_send_arm(c);
		return;
	}
	nbd_conn_send_pop(c, 0);
	if (c->fatal)
		nbd_conn_send_drop_all(c);
	else
		nbd_conn_send_kick(c);
	nbd_conn_maybe_close(c);
}

void nbd_conn_send(struct nbd_conn *c, struct nbd_send *s)
{
	s->next = NULL;
	s->done = 0;
	if (c->fatal) {
		s->sent(s, -ECONNRESET);
		return;
	}
	if (c->send_tail)
		c->send_tail->next = s;
	else
		c->send_head = s;
	c->send_tail = s;
	nbd_conn_send_kick(c);
}

struct nbd_copy_msg {
	struct nbd_send send;
	uint8_t data[];
};

static void nbd_copy_msg_sent(struct nbd_send *s, int err)
{
	(void)err;
	free((struct nbd_copy_msg *)((char *)s - offsetof(struct nbd_copy_msg, send)));
}

int nbd_conn_send_copy(struct nbd_conn *c, const void *buf, size_t len)
{
	struct nbd_copy_msg *m;

	if (len > UINT32_MAX)
		return -EOVERFLOW;
	m = malloc(sizeof(*m) + len);
	if (!m)
		return -ENOMEM;
	memcpy(m->data, buf, len);
	m->send.buf = m->data;
	m->send.len = (uint32_t)len;
	m->send.sent = nbd_copy_msg_sent;
	nbd_conn_send(c, &m->send);
	return 0;
}

void nbd_conn_fail(struct nbd_conn *c, const char *why)
{
	if (c->fatal)
		return;
	if (why)
		fprintf(stderr, "cryptblk: nbd: connection %d: %s; closing it\n", c->fd, why);
	c->fatal = true;
	c->state = NBD_CONN_DRAINING;
	c->reading = false;
	/* Wake the receive and send that may be parked in the kernel. */
	shutdown(c->fd, SHUT_RDWR);
	if (!c->send_busy)
		nbd_conn_send_drop_all(c);
}

void nbd_conn_drain(struct nbd_conn *c)
{
	if (c->state == NBD_CONN_DRAINING)
		return;
	if (c->state != NBD_CONN_TRANSMISSION) {
		/* Nothing accepted yet that must finish. */
		nbd_conn_fail(c, NULL);
		return;
	}
	c->state = NBD_CONN_DRAINING;
	c->reading = false;
	/* A receive parked for the next header returns 0 now; replies can
	 * still be sent. */
	if (c->recv_busy)
		shutdown(c->fd, SHUT_RD);
}

void nbd_conn_maybe_close(struct nbd_conn *c)
{
	struct nbd_worker *w = c->w;

	if (c->state != NBD_CONN_DRAINING || c->recv_busy || c->send_busy || c->send_head ||
	    c->reqs_inflight)
		return;
	if (c->tls && !nbd_tls_close_ready(c))
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->nr_conns--;
	nbd_tls_conn_free(c);
	close(c->fd);
	free(c->opt_data);
	free(c);
	nbd_server_conn_gone(w->srv);
}

/* A 1 MiB read reply left in five sends of the default 208 KiB send
 * buffer, each parked on a poll until the client had read the last one
 * (perf stat: 5.9 SQEs, 2.2 poll arms and 3.7 context switches per request
 * of a sequential 1 MiB read). A buffer that holds several replies lets a
 * reply leave in one send. Best effort: the kernel caps it at wmem_max. */
#define NBD_CONN_SNDBUF (4 * 1024 * 1024)

int nbd_conn_start(struct nbd_worker *w, int fd)
{
	struct nbd_conn *c = calloc(1, sizeof(*c));
	int sndbuf = NBD_CONN_SNDBUF;

	if (!c) {
		close(fd);
		nbd_server_conn_gone(w->srv);
		return -ENOMEM;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	c->w = w;
	c->fd = fd;
	c->state = NBD_CONN_HANDSHAKE;
	c->deadline_ns = clock_now_ns() + (uint64_t)w->srv->cfg.handshake_timeout * 1000000000u;
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	w->nr_conns++;
	nbd_handshake_start(c);
	nbd_conn_maybe_close(c);
	return 0;
}
