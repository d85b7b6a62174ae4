/* The TLS record layer of a connection, from NBD_OPT_STARTTLS on.
 *
 * OpenSSL's state machine works between two memory BIOs and never touches
 * the socket: ciphertext is received into `in` and written into the read
 * BIO, and what TLS writes into the write BIO is moved into `out` and sent
 * by the loop, like every other socket I/O of the server. Nothing here
 * blocks.
 *
 * Receives: a pending receive (c->recv_buf, as in conn.c) is filled by
 * SSL_read straight into its buffer; only when TLS wants more ciphertext
 * is a socket receive armed. A receive that can be satisfied from bytes
 * already decrypted completes through a NOP on the loop, so callbacks
 * never run inside nbd_conn_recv().
 *
 * Sends: when no send is in flight, queued messages are encrypted in
 * order until `out` is full (NBD_TLS_OUT_CAP), then `out` is sent; a
 * message is done (its `sent` runs, freeing a read's buffer) as soon as its
 * last byte is encrypted. A 32 MiB read reply thus leaves in slices of
 * `out`, and per connection TLS holds at most `in`, `out`, the ciphertext
 * of one slice in the write BIO and one record inside OpenSSL.
 *
 * Failures: a TLS error (a bad handshake, a certificate refused, a
 * corrupt record) logs one line, drops every queued message, still sends
 * the alert TLS wrote, and closes. A connection that ends normally sends
 * close_notify before the socket closes. */
#include "nbd_int.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define NBD_TLS_IN_CAP	(64u * 1024)  /* ciphertext per socket receive */
#define NBD_TLS_OUT_CAP (256u * 1024) /* ciphertext per socket send */

struct nbd_tls_conn {
	SSL *ssl;
	BIO *rbio, *wbio; /* owned by ssl */
	uint8_t *in;
	uint8_t *out;
	uint32_t out_len, out_done;
	int ready;	    /* result of a receive completed without the socket */
	bool failed;	    /* TLS broke: only the alert in `out`/wbio still leaves */
	bool dead;	    /* the socket broke: nothing leaves any more */
	bool shutdown_sent; /* close_notify written */
	bool pumping;	    /* inside nbd_tls_fill: nested kicks wait for it */
};

static struct nbd_conn *nbd_tls_conn_of(struct loop_op *op, size_t member)
{
	return (struct nbd_conn *)((char *)op - member);
}

/* A TLS error on this connection: say why once, keep the alert, close. */
static void nbd_tls_fail(struct nbd_conn *c, const char *what)
{
	struct nbd_tls_conn *t = c->tls;
	long verify = SSL_get_verify_result(t->ssl);
	char reason[256];

	nbd_tls_error_string(reason, sizeof(reason));
	if (!c->fatal) {
		if (verify != X509_V_OK)
			fprintf(stderr,
				"cryptblk: nbd: connection %d: %s: client certificate refused: "
				"%s; closing it\n",
				c->fd, what, X509_verify_cert_error_string(verify));
		else
			fprintf(stderr, "cryptblk: nbd: connection %d: %s: %s; closing it\n", c->fd,
				what, reason);
	}
	t->failed = true;
	c->fatal = true;
	c->state = NBD_CONN_DRAINING;
	c->reading = false;
	/* A receive parked in the kernel returns now; writing stays open for
	 * the alert. */
	shutdown(c->fd, SHUT_RD);
	nbd_tls_send_kick(c);
}

/* Decrypt into the pending receive until it is complete (1), TLS needs
 * more ciphertext (0), or the stream ended or broke (< 0). Whatever TLS
 * wrote meanwhile (handshake messages, alerts) is sent. */
static int nbd_tls_read(struct nbd_conn *c)
{
	struct nbd_tls_conn *t = c->tls;
	int ret = 1;

	while (c->recv_done < c->recv_len) {
		size_t n = 0;
		int r;

		ERR_clear_error();
		r = SSL_read_ex(t->ssl, c->recv_buf + c->recv_done, c->recv_len - c->recv_done, &n);
		if (r == 1) {
			c->recv_done += (uint32_t)n;
			continue;
		}
		switch (SSL_get_error(t->ssl, r)) {
		case SSL_ERROR_WANT_READ:
			ret = 0;
			break;
		case SSL_ERROR_ZERO_RETURN: /* close_notify: the client is done */
			ret = c->recv_done ? -ECONNRESET : -ENODATA;
			break;
		default:
			nbd_tls_fail(c, SSL_is_init_finished(t->ssl) ? "TLS" : "TLS handshake");
			ret = -EPROTO;
			break;
		}
		break;
	}
	nbd_conn_send_kick(c);
	return ret;
}

static void nbd_tls_recv_socket(struct nbd_conn *c);

static void nbd_tls_recv_done(struct loop_op *op, int res, uint32_t cqe_flags)
{
	struct nbd_conn *c = nbd_tls_conn_of(op, offsetof(struct nbd_conn, recv_op));
	struct nbd_tls_conn *t = c->tls;
	int err, r;

	(void)cqe_flags;
	c->recv_busy = false;
	if (res == -EINTR || res == -EAGAIN) {
		nbd_tls_recv_socket(c);
		return;
	}
	if (c->fatal) {
		err = -ECONNRESET;
	} else if (res < 0) {
		err = res;
	} else if (res == 0) {
		err = c->recv_done ? -ECONNRESET : -ENODATA;
	} else if (BIO_write(t->rbio, t->in, res) != res) {
		ERR_clear_error();
		nbd_conn_fail(c, "TLS: out of memory");
		err = -ENOMEM;
	} else {
		r = nbd_tls_read(c);
		if (r == 0) {
			nbd_tls_recv_socket(c);
			return;
		}
		err = r > 0 ? 0 : r;
	}
	nbd_conn_recv_finish(c, err);
	nbd_conn_maybe_close(c);
}

static void nbd_tls_recv_socket(struct nbd_conn *c)
{
	c->recv_busy = true;
	loop_prep_recv(&c->recv_op, c->fd, c->tls->in, NBD_TLS_IN_CAP, 0);
	c->recv_op.done = nbd_tls_recv_done;
	loop_submit(c->w->loop, &c->recv_op);
}

static void nbd_tls_recv_ready(struct loop_op *op, int res, uint32_t cqe_flags)
{
	struct nbd_conn *c = nbd_tls_conn_of(op, offsetof(struct nbd_conn, recv_op));

	(void)res;
	(void)cqe_flags;
	c->recv_busy = false;
	nbd_conn_recv_finish(c, c->fatal ? -ECONNRESET : c->tls->ready);
	nbd_conn_maybe_close(c);
}

void nbd_tls_recv_arm(struct nbd_conn *c)
{
	int r = c->fatal ? -ECONNRESET : nbd_tls_read(c);

	if (r == 0) {
		nbd_tls_recv_socket(c);
		return;
	}
	/* Decided already: deliver from the loop, not inside nbd_conn_recv. */
	c->tls->ready = r > 0 ? 0 : r;
	c->recv_busy = true;
	loop_prep_nop(&c->recv_op);
	c->recv_op.done = nbd_tls_recv_ready;
	loop_submit(c->w->loop, &c->recv_op);
}

/* Encrypt queued messages while the write BIO holds less than one `out`,
 * then move ciphertext into `out`. Messages leave the queue as soon as
 * they are encrypted; their `sent` may queue more or start receives, which
 * this loop picks up. */
static void nbd_tls_fill(struct nbd_conn *c)
{
	struct nbd_tls_conn *t = c->tls;
	size_t pending;
	int n;

	while (!c->fatal && c->send_head && !t->shutdown_sent && SSL_is_init_finished(t->ssl) &&
	       (pending = BIO_ctrl_pending(t->wbio)) < NBD_TLS_OUT_CAP) {
		struct nbd_send *s = c->send_head;
		size_t want = s->len - s->done, written = 0;

		if (want > NBD_TLS_OUT_CAP - pending)
			want = NBD_TLS_OUT_CAP - pending;
		ERR_clear_error();
		if (want && SSL_write_ex(t->ssl, s->buf + s->done, want, &written) != 1) {
			nbd_tls_fail(c, "TLS");
			break;
		}
		s->done += (uint32_t)written;
		if (s->done == s->len)
			nbd_conn_send_pop(c, 0);
	}
	n = BIO_read(t->wbio, t->out, NBD_TLS_OUT_CAP);
	t->out_len = n > 0 ? (uint32_t)n : 0;
	t->out_done = 0;
}

static void nbd_tls_send_done(struct loop_op *op, int res, uint32_t cqe_flags);

static void nbd_tls_send_arm(struct nbd_conn *c)
{
	struct nbd_tls_conn *t = c->tls;

	c->send_busy = true;
	loop_prep_send(&c->send_op, c->fd, t->out + t->out_done, t->out_len - t->out_done,
		       MSG_NOSIGNAL);
	c->send_op.done = nbd_tls_send_done;
	loop_submit(c->w->loop, &c->send_op);
}

static void nbd_tls_send_done(struct loop_op *op, int res, uint32_t cqe_flags)
{
	struct nbd_conn *c = nbd_tls_conn_of(op, offsetof(struct nbd_conn, send_op));
	struct nbd_tls_conn *t = c->tls;

	(void)cqe_flags;
	c->send_busy = false;
	if (res == -EINTR || res == -EAGAIN) {
		nbd_tls_send_arm(c);
		return;
	}
	if (res <= 0) {
		/* A client that leaves after an alert or before our
		 * close_notify is no news. */
		if (!c->fatal && !t->shutdown_sent)
			nbd_conn_fail(c, res == 0 ? "send made no progress" : strerror(-res));
		t->dead = true;
	} else {
		t->out_done += (uint32_t)res;
	}
	nbd_tls_send_kick(c);
	nbd_conn_maybe_close(c);
}

void nbd_tls_send_kick(struct nbd_conn *c)
{
	struct nbd_tls_conn *t = c->tls;

	if (c->send_busy || t->pumping)
		return;
	if (t->dead || (c->fatal && !t->failed)) {
		/* The socket is gone: nothing more will leave. */
		t->out_len = t->out_done = 0;
		nbd_conn_send_drop_all(c);
		return;
	}
	if (t->out_done == t->out_len) {
		t->pumping = true;
		nbd_tls_fill(c);
		t->pumping = false;
	}
	if (c->fatal)
		nbd_conn_send_drop_all(c); /* only the alert is still sent */
	if (t->out_done < t->out_len)
		nbd_tls_send_arm(c);
}

bool nbd_tls_close_ready(struct nbd_conn *c)
{
	struct nbd_tls_conn *t = c->tls;

	if (!c->fatal && !t->dead && !t->shutdown_sent && SSL_is_init_finished(t->ssl)) {
		/* NBD asks for the TLS session to be shut down before the
		 * socket: send close_notify, then close without waiting for
		 * the client's. */
		t->shutdown_sent = true;
		ERR_clear_error();
		if (SSL_shutdown(t->ssl) < 0)
			ERR_clear_error();
		nbd_tls_send_kick(c);
	}
	return !c->send_busy;
}

int nbd_tls_conn_start(struct nbd_conn *c)
{
	struct nbd_tls_conn *t = calloc(1, sizeof(*t));
	int ret = -ENOMEM;

	if (!t)
		return -ENOMEM;
	t->in = malloc(NBD_TLS_IN_CAP);
	t->out = malloc(NBD_TLS_OUT_CAP);
	t->ssl = SSL_new(c->w->srv->cfg.tls->ctx);
	t->rbio = BIO_new(BIO_s_mem());
	t->wbio = BIO_new(BIO_s_mem());
	if (!t->in || !t->out || !t->ssl || !t->rbio || !t->wbio)
		goto out;
	/* An empty read BIO means "come back later", not end of stream. */
	BIO_set_mem_eof_return(t->rbio, -1);
	SSL_set_bio(t->ssl, t->rbio, t->wbio);
	SSL_set_accept_state(t->ssl);
	/* The messages queued so far (the STARTTLS ack last) predate TLS. */
	c->tls_raw = 0;
	for (struct nbd_send *s = c->send_head; s; s = s->next)
		c->tls_raw++;
	c->tls = t;
	t = NULL;
	ret = 0;
out:
	if (t) {
		/* Only reached before SSL_set_bio: the BIOs are still ours. */
		SSL_free(t->ssl);
		BIO_free(t->rbio);
		BIO_free(t->wbio);
		free(t->in);
		free(t->out);
		free(t);
	}
	ERR_clear_error();
	return ret;
}

void nbd_tls_conn_free(struct nbd_conn *c)
{
	struct nbd_tls_conn *t = c->tls;

	if (!t)
		return;
	SSL_free(t->ssl); /* and its BIOs */
	free(t->in);
	free(t->out);
	free(t);
	c->tls = NULL;
}
