/* Replies of the transmission phase: simple replies, or structured chunks
 * when negotiated; the one translation of errno values into NBD errors; and
 * the end of a request's life once its reply has left. */
#include "nbd_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

uint32_t nbd_errno_to_wire(int err)
{
	switch (err) {
	case 0:
		return 0;
	case -EPERM:
	case -EROFS:
	case -EACCES:
		return NBD_EPERM;
	case -ENOMEM:
		return NBD_ENOMEM;
	case -EINVAL:
		return NBD_EINVAL;
	case -ENOSPC:
	case -EDQUOT:
	case -EFBIG:
		return NBD_ENOSPC;
	case -EOVERFLOW:
		return NBD_EOVERFLOW;
	case -ENOTSUP:
		return NBD_ENOTSUP;
	case -ESHUTDOWN:
		return NBD_ESHUTDOWN;
	default:
		return NBD_EIO;
	}
}

void nbd_req_free(struct nbd_req *r)
{
	struct nbd_conn *c = r->conn;

	c->reqs_inflight--;
	c->bytes_inflight -= r->charged;
	nbd_pool_put(c->w, r->buf, r->buf_cap);
	free(r->edge);
	free(r);
}

static void nbd_reply_sent(struct nbd_send *s, int err)
{
	struct nbd_req *r = (struct nbd_req *)((char *)s - offsetof(struct nbd_req, send));
	struct nbd_conn *c = r->conn;

	(void)err;
	nbd_req_free(r);
	/* A reply left: there may be room for the next request now. */
	nbd_transmission_resume(c);
}

static void nbd_reply_queue(struct nbd_req *r, const uint8_t *buf, size_t len)
{
	r->send.buf = buf;
	r->send.len = (uint32_t)len;
	r->send.sent = nbd_reply_sent;
	nbd_conn_send(r->conn, &r->send);
}

static size_t nbd_reply_simple(struct nbd_req *r, uint8_t *at, uint32_t wire_error)
{
	struct nbd_wire_simple_reply h = {
	    .magic = htobe32(NBD_MAGIC_SIMPLE_REPLY),
	    .error = htobe32(wire_error),
	    .handle = r->handle, /* opaque: echoed byte for byte */
	};

	memcpy(at, &h, sizeof(h));
	return sizeof(h);
}

static size_t nbd_reply_chunk(struct nbd_req *r, uint8_t *at, uint16_t flags, uint16_t type,
			      uint32_t payload_len)
{
	struct nbd_wire_chunk h = {
	    .magic = htobe32(NBD_MAGIC_STRUCT_REPLY),
	    .flags = htobe16(flags),
	    .type = htobe16(type),
	    .handle = r->handle,
	    .len = htobe32(payload_len),
	};

	memcpy(at, &h, sizeof(h));
	return sizeof(h);
}

void nbd_reply_ok(struct nbd_req *r)
{
	size_t n;

	if (r->conn->structured)
		n = nbd_reply_chunk(r, r->msg, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_NONE, 0);
	else
		n = nbd_reply_simple(r, r->msg, 0);
	nbd_reply_queue(r, r->msg, n);
}

void nbd_reply_error(struct nbd_req *r, int err, const char *msg)
{
	uint32_t wire = nbd_errno_to_wire(err);
	size_t n;

	if (wire == 0)
		wire = NBD_EIO; /* an error reply must carry an error */
	if (r->conn->structured) {
		size_t msg_len = msg ? strnlen(msg, NBD_ERROR_MSG_MAX) : 0;
		struct nbd_wire_chunk_error e = {
		    .error = htobe32(wire),
		    .msg_len = htobe16((uint16_t)msg_len),
		};

		n = nbd_reply_chunk(r, r->msg, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR,
				    (uint32_t)(sizeof(e) + msg_len));
		memcpy(r->msg + n, &e, sizeof(e));
		n += sizeof(e);
		memcpy(r->msg + n, msg, msg_len);
		n += msg_len;
	} else {
		n = nbd_reply_simple(r, r->msg, wire);
	}
	nbd_reply_queue(r, r->msg, n);
}

/* `data` points at the first requested byte inside r->buf; the reply
 * header goes into the bytes just before it (NBD_READ_PREFIX of room was
 * allocated in front of the aligned data), so header and data leave in one
 * send without a copy. */
void nbd_reply_read(struct nbd_req *r, uint8_t *data)
{
	uint8_t *head;

	if (r->conn->structured) {
		uint64_t off = htobe64(r->offset);

		head = data - sizeof(struct nbd_wire_chunk) - sizeof(off);
		nbd_reply_chunk(r, head, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_OFFSET_DATA,
				(uint32_t)sizeof(off) + r->len);
		memcpy(head + sizeof(struct nbd_wire_chunk), &off, sizeof(off));
	} else {
		head = data - sizeof(struct nbd_wire_simple_reply);
		nbd_reply_simple(r, head, 0);
	}
	nbd_reply_queue(r, head, (size_t)(data - head) + r->len);
}

/* base:allocation for the whole range: allocated data, not known zero.
 * Every sector of an encrypted volume holds ciphertext, even after a trim. */
void nbd_reply_block_status(struct nbd_req *r)
{
	struct nbd_wire_block_status bs = {
	    .context_id = htobe32(NBD_META_ID_BASE_ALLOCATION),
	    .extent_len = htobe32(r->len),
	    .extent_flags = 0,
	};
	size_t n = nbd_reply_chunk(r, r->msg, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_BLOCK_STATUS,
				   sizeof(bs));

	memcpy(r->msg + n, &bs, sizeof(bs));
	nbd_reply_queue(r, r->msg, n + sizeof(bs));
}
