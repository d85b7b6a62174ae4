/* The transmission phase: request headers and write payloads are received
 * one after the other through the loop, validated, and dispatched; many
 * requests run at once, bounded per connection by max_requests and
 * max_bytes. */
#include "nbd_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void nbd_tx_header(struct nbd_conn *c, int err);

static bool nbd_tx_over_caps(const struct nbd_conn *c)
{
	const struct nbd_server_config *cfg = &c->w->srv->cfg;

	return c->reqs_inflight >= cfg->max_requests || c->bytes_inflight >= cfg->max_bytes;
}

void nbd_transmission_resume(struct nbd_conn *c)
{
	if (c->state != NBD_CONN_TRANSMISSION || c->fatal || c->reading || nbd_tx_over_caps(c))
		return;
	c->reading = true;
	nbd_conn_recv(c, &c->req_hdr, sizeof(c->req_hdr), nbd_tx_header);
}

void nbd_transmission_start(struct nbd_conn *c)
{
	c->state = NBD_CONN_TRANSMISSION;
	nbd_transmission_resume(c);
}

static uint16_t nbd_tx_allowed_flags(const struct nbd_conn *c, uint16_t type)
{
	switch (type) {
	case NBD_CMD_READ:
		return NBD_CMD_FLAG_FUA | (c->structured ? NBD_CMD_FLAG_DF : 0);
	case NBD_CMD_WRITE:
	case NBD_CMD_FLUSH:
	case NBD_CMD_TRIM:
	case NBD_CMD_CACHE:
		return NBD_CMD_FLAG_FUA;
	case NBD_CMD_WRITE_ZEROES:
		return NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FAST_ZERO;
	case NBD_CMD_BLOCK_STATUS:
		return NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_REQ_ONE;
	default:
		return 0;
	}
}

static bool nbd_tx_is_write(uint16_t type)
{
	return type == NBD_CMD_WRITE || type == NBD_CMD_WRITE_ZEROES || type == NBD_CMD_TRIM;
}

/* 0 if the request may run; otherwise the error to reply with and why. */
static int nbd_tx_check(const struct nbd_req *r, const char **why)
{
	const struct nbd_conn *c = r->conn;
	const struct nbd_worker *w = c->w;
	uint64_t end = r->offset + r->len;

	if (r->type > NBD_CMD_BLOCK_STATUS || r->type == NBD_CMD_DISC) {
		*why = "unknown command";
		return -EINVAL;
	}
	if (r->flags & ~nbd_tx_allowed_flags(c, r->type)) {
		*why = "command flag not valid for this command";
		return -EINVAL;
	}
	if (r->type == NBD_CMD_FLUSH) {
		*why = "flush with a nonzero offset or length";
		return r->offset || r->len ? -EINVAL : 0;
	}
	if (nbd_tx_is_write(r->type) && w->read_only) {
		*why = "export is read-only";
		return -EPERM;
	}
	if ((r->type == NBD_CMD_READ || r->type == NBD_CMD_CACHE) && r->len > NBD_MAX_PAYLOAD) {
		*why = "length over the maximum block size";
		return -EINVAL;
	}
	if (end < r->offset || end > w->size) {
		*why = "request past the end of the export";
		return r->type == NBD_CMD_WRITE || r->type == NBD_CMD_WRITE_ZEROES ? -ENOSPC
										   : -EINVAL;
	}
	if (r->type == NBD_CMD_BLOCK_STATUS && (!c->meta_base_allocation || r->len == 0)) {
		*why = r->len ? "no metadata context selected" : "block status of nothing";
		return -EINVAL;
	}
	if (r->type == NBD_CMD_WRITE_ZEROES && (r->flags & NBD_CMD_FLAG_FAST_ZERO)) {
		/* Zeros must be encrypted and written: never faster than a write. */
		*why = "fast zero not possible on an encrypted volume";
		return -ENOTSUP;
	}
	return 0;
}

static void nbd_tx_dispatch(struct nbd_req *r)
{
	const char *why = NULL;
	int err = nbd_tx_check(r, &why);

	if (err) {
		nbd_reply_error(r, err, why);
		return;
	}
	switch (r->type) {
	case NBD_CMD_READ:
		/* A read of nothing is a reply without data: a structured
		 * OFFSET_DATA chunk must carry at least one byte. */
		if (r->len)
			nbd_rmw_read(r);
		else
			nbd_reply_ok(r);
		break;
	case NBD_CMD_WRITE:
		if (r->len)
			nbd_rmw_write(r);
		else
			nbd_reply_ok(r);
		break;
	case NBD_CMD_WRITE_ZEROES:
		if (r->len)
			nbd_rmw_zero(r);
		else
			nbd_reply_ok(r);
		break;
	case NBD_CMD_TRIM:
		nbd_rmw_trim(r);
		break;
	case NBD_CMD_FLUSH:
		nbd_rmw_flush(r);
		break;
	case NBD_CMD_BLOCK_STATUS:
		nbd_reply_block_status(r);
		break;
	default: /* NBD_CMD_CACHE: a hint; there is no cache to warm */
		nbd_reply_ok(r);
		break;
	}
}

static void nbd_tx_payload(struct nbd_conn *c, int err)
{
	struct nbd_req *r = c->rx_req;

	c->rx_req = NULL;
	c->reading = false;
	if (err || c->fatal) {
		nbd_req_free(r);
		nbd_conn_fail(
		    c, c->fatal || c->state == NBD_CONN_DRAINING ? NULL : "write payload cut off");
		return;
	}
	nbd_tx_dispatch(r);
	nbd_transmission_resume(c);
}

/* Allocate a write's buffer and receive its payload into it: for a valid
 * write the buffer covers the aligned range and the payload lands at its
 * offset inside, ready for read-modify-write of the edges. */
static void nbd_tx_write_receive(struct nbd_conn *c, struct nbd_req *r)
{
	const char *why;
	uint8_t *at;
	size_t len = r->len;

	if (r->len && nbd_tx_check(r, &why) == 0) {
		uint64_t s = c->w->sector_size;

		r->a0 = r->offset & ~(s - 1);
		r->a1 = (r->offset + r->len + s - 1) & ~(s - 1);
		len = r->a1 - r->a0;
	}
	r->buf = nbd_pool_get(c->w, len, &r->buf_cap);
	if (!r->buf) {
		nbd_req_free(r);
		nbd_conn_fail(c, "write payload: out of memory");
		return;
	}
	r->buf_len = len;
	r->charged = len;
	c->bytes_inflight += len;
	at = r->a1 ? r->buf + (r->offset - r->a0) : r->buf;
	c->rx_req = r;
	c->reading = true;
	nbd_conn_recv(c, at, r->len, nbd_tx_payload);
}

static void nbd_tx_header(struct nbd_conn *c, int err)
{
	struct nbd_req *r;
	char why[80];

	c->reading = false;
	if (err || c->fatal) {
		/* EOF between requests: the client left without NBD_CMD_DISC, or
		 * the server is draining. Finish what is in flight. */
		if (err == -ENODATA && !c->fatal)
			nbd_conn_drain(c);
		else
			nbd_conn_fail(c, c->fatal || c->state == NBD_CONN_DRAINING
					     ? NULL
					     : "request header cut off");
		return;
	}
	if (be32toh(c->req_hdr.magic) != NBD_MAGIC_REQUEST) {
		snprintf(why, sizeof(why), "request: bad magic 0x%08x", be32toh(c->req_hdr.magic));
		nbd_conn_fail(c, why);
		return;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		nbd_conn_fail(c, "request: out of memory");
		return;
	}
	r->conn = c;
	r->flags = be16toh(c->req_hdr.flags);
	r->type = be16toh(c->req_hdr.type);
	r->handle = c->req_hdr.handle; /* opaque, echoed as received */
	r->offset = be64toh(c->req_hdr.offset);
	r->len = be32toh(c->req_hdr.len);
	c->reqs_inflight++;

	if (r->type == NBD_CMD_DISC) {
		nbd_req_free(r);
		nbd_conn_drain(c);
		return;
	}
	if (r->type == NBD_CMD_WRITE) {
		if (r->len > NBD_MAX_PAYLOAD) {
			/* The payload cannot be skipped safely: close. */
			snprintf(why, sizeof(why), "write length %u over limit %u", r->len,
				 NBD_MAX_PAYLOAD);
			nbd_req_free(r);
			nbd_conn_fail(c, why);
			return;
		}
		nbd_tx_write_receive(c, r);
		return;
	}
	nbd_tx_dispatch(r);
	nbd_transmission_resume(c);
}
