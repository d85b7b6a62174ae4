/* Data paths of valid requests over a volume that takes whole sectors only:
 * reads of the covering aligned range, read-modify-write of partial edge
 * sectors for writes and write zeroes under a range lock, trims rounded
 * inward, zero and trim cut into slices. Each step runs when the volume
 * requests of the previous one have all completed (r->step). */
#include "nbd_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint64_t nbd_round_down(uint64_t x, uint64_t s)
{
	return x & ~(s - 1);
}

static uint64_t nbd_round_up(uint64_t x, uint64_t s)
{
	return (x + s - 1) & ~(s - 1);
}

static uint32_t nbd_req_sector(const struct nbd_req *r)
{
	return r->conn->w->sector_size;
}

static void nbd_req_vdone(struct volume_req *vr, int res)
{
	struct nbd_req *r = vr->priv;
	struct nbd_conn *c = r->conn;

	if (res < 0 && !r->error)
		r->error = res;
	if (--r->vpending)
		return;
	r->step(r);
	nbd_conn_maybe_close(c);
}

void nbd_req_submit(struct nbd_req *r, unsigned slot, uint8_t op, uint32_t flags, uint64_t off,
		    uint64_t len, void *buf)
{
	struct volume_req *vr = &r->vreq[slot];

	memset(vr, 0, sizeof(*vr));
	vr->op = op;
	vr->flags = flags;
	vr->offset = off;
	vr->len = len;
	vr->buf = buf;
	vr->done = nbd_req_vdone;
	vr->priv = r;
	r->vpending++;
	volume_submit(r->conn->w->vol, vr);
}

static uint32_t nbd_req_fua(const struct nbd_req *r)
{
	return (r->flags & NBD_CMD_FLAG_FUA) ? VOLUME_F_FUA : 0;
}

/* A write's buffer is freed once the reply is sent and never read again:
 * the volume may encrypt it in place instead of into a bounce buffer. */
static uint32_t nbd_req_write_flags(const struct nbd_req *r)
{
	return nbd_req_fua(r) | VOLUME_F_CLOBBER;
}

/* The request's volume work is over: unlock, then reply. */
static void nbd_req_finish(struct nbd_req *r)
{
	if (r->locked) {
		nbd_range_release(&r->conn->w->srv->locks, &r->lock);
		r->locked = false;
	}
	if (r->error)
		nbd_reply_error(r, r->error, "volume request failed");
	else
		nbd_reply_ok(r);
}

/* Take the range lock of [start, end), then run `locked` (now, or later
 * on this thread when an overlapping request released its lock). */
static void nbd_req_lock(struct nbd_req *r, uint64_t start, uint64_t end,
			 void (*locked)(struct nbd_range *))
{
	r->lock.q.start = start;
	r->lock.q.end = end;
	r->lock.owner = r->conn->w;
	r->lock.granted = locked;
	if (nbd_range_acquire(&r->conn->w->srv->locks, &r->lock))
		locked(&r->lock);
}

static struct nbd_req *nbd_req_of_lock(struct nbd_range *lock)
{
	return (struct nbd_req *)((char *)lock - offsetof(struct nbd_req, lock));
}

static int nbd_req_alloc_edges(struct nbd_req *r)
{
	void *p = NULL;

	if (posix_memalign(&p, 4096, 2 * (size_t)nbd_req_sector(r)))
		return -ENOMEM;
	r->edge = p;
	return 0;
}

/* Read the partial first and last sectors of [a0, a1) into r->edge:
 * sector a0 at edge[0], sector a1 - s at edge[s] (one read when they are
 * the same sector). Returns how many reads were started. */
static unsigned nbd_req_read_edges(struct nbd_req *r, uint64_t start, uint64_t end)
{
	uint32_t s = nbd_req_sector(r);
	unsigned n = 0;
	bool head = start != r->a0, tail = end != r->a1;

	if (r->a1 - r->a0 == s && (head || tail)) {
		nbd_req_submit(r, 0, VOLUME_READ, 0, r->a0, s, r->edge);
		return 1;
	}
	if (head)
		nbd_req_submit(r, n++, VOLUME_READ, 0, r->a0, s, r->edge);
	if (tail)
		nbd_req_submit(r, n++, VOLUME_READ, 0, r->a1 - s, s, r->edge + s);
	return n;
}

/* ---- read ---- */

static void nbd_read_done(struct nbd_req *r)
{
	if (r->error)
		nbd_reply_error(r, r->error, "volume read failed");
	else
		nbd_reply_read(r, r->buf + NBD_READ_PREFIX + (r->offset - r->a0));
}

void nbd_rmw_read(struct nbd_req *r)
{
	struct nbd_conn *c = r->conn;
	uint32_t s = nbd_req_sector(r);

	r->a0 = nbd_round_down(r->offset, s);
	r->a1 = nbd_round_up(r->offset + r->len, s);
	r->buf_len = NBD_READ_PREFIX + (r->a1 - r->a0);
	r->buf = nbd_pool_get(c->w, r->buf_len, &r->buf_cap);
	if (!r->buf) {
		nbd_reply_error(r, -ENOMEM, "out of memory");
		return;
	}
	r->charged = r->buf_len;
	c->bytes_inflight += r->charged;
	r->step = nbd_read_done;
	nbd_req_submit(r, 0, VOLUME_READ, 0, r->a0, r->a1 - r->a0, r->buf + NBD_READ_PREFIX);
}

/* ---- write: the payload already sits at buf + (offset - a0) ---- */

static void nbd_write_merged(struct nbd_req *r)
{
	uint32_t s = nbd_req_sector(r);
	uint64_t end = r->offset + r->len;
	const uint8_t *tail_src = (r->a1 - r->a0 == s) ? r->edge : r->edge + s;

	if (r->error) {
		nbd_req_finish(r);
		return;
	}
	if (r->offset != r->a0)
		memcpy(r->buf, r->edge, r->offset - r->a0);
	if (end != r->a1)
		memcpy(r->buf + (end - r->a0), tail_src + (end - (r->a1 - s)), r->a1 - end);
	r->step = nbd_req_finish;
	nbd_req_submit(r, 0, VOLUME_WRITE, nbd_req_write_flags(r), r->a0, r->a1 - r->a0, r->buf);
}

static void nbd_write_locked(struct nbd_range *lock)
{
	struct nbd_req *r = nbd_req_of_lock(lock);
	uint64_t end = r->offset + r->len;

	r->locked = true;
	if (r->offset == r->a0 && end == r->a1) {
		r->step = nbd_req_finish;
		nbd_req_submit(r, 0, VOLUME_WRITE, nbd_req_write_flags(r), r->a0, r->a1 - r->a0,
			       r->buf);
		return;
	}
	if (nbd_req_alloc_edges(r) < 0) {
		r->error = -ENOMEM;
		nbd_req_finish(r);
		return;
	}
	r->step = nbd_write_merged;
	nbd_req_read_edges(r, r->offset, end);
}

void nbd_rmw_write(struct nbd_req *r)
{
	nbd_req_lock(r, r->a0, r->a1, nbd_write_locked);
}

/* ---- write zeroes and trim: slices of the aligned middle ---- */

static void nbd_slice_next(struct nbd_req *r)
{
	uint8_t op = r->type == NBD_CMD_TRIM ? VOLUME_TRIM : VOLUME_ZERO;
	uint64_t n;

	if (r->error || r->next_off >= r->end_off) {
		nbd_req_finish(r);
		return;
	}
	n = r->end_off - r->next_off;
	if (n > NBD_MAX_PAYLOAD)
		n = NBD_MAX_PAYLOAD;
	r->step = nbd_slice_next;
	/* Never VOLUME_F_MAY_PUNCH: a hole decrypts to garbage, not zeros. */
	nbd_req_submit(r, 0, op, nbd_req_fua(r), r->next_off, n, NULL);
	r->next_off += n;
}

static void nbd_zero_edges_merged(struct nbd_req *r)
{
	uint32_t s = nbd_req_sector(r);
	uint64_t end = r->offset + r->len;
	unsigned n = 0;

	if (r->error) {
		nbd_req_finish(r);
		return;
	}
	r->step = nbd_slice_next;
	if (r->a1 - r->a0 == s) {
		memset(r->edge + (r->offset - r->a0), 0, r->len);
		nbd_req_submit(r, 0, VOLUME_WRITE, nbd_req_fua(r), r->a0, s, r->edge);
		return;
	}
	if (r->offset != r->a0) {
		memset(r->edge + (r->offset - r->a0), 0, s - (r->offset - r->a0));
		nbd_req_submit(r, n++, VOLUME_WRITE, nbd_req_fua(r), r->a0, s, r->edge);
	}
	if (end != r->a1) {
		memset(r->edge + s, 0, end - (r->a1 - s));
		nbd_req_submit(r, n++, VOLUME_WRITE, nbd_req_fua(r), r->a1 - s, s, r->edge + s);
	}
}

static void nbd_zero_locked(struct nbd_range *lock)
{
	struct nbd_req *r = nbd_req_of_lock(lock);
	uint32_t s = nbd_req_sector(r);
	uint64_t end = r->offset + r->len;

	r->locked = true;
	r->next_off = nbd_round_up(r->offset, s);
	r->end_off = nbd_round_down(end, s);
	if (r->offset == r->a0 && end == r->a1) {
		nbd_slice_next(r);
		return;
	}
	if (nbd_req_alloc_edges(r) < 0) {
		r->error = -ENOMEM;
		nbd_req_finish(r);
		return;
	}
	r->step = nbd_zero_edges_merged;
	nbd_req_read_edges(r, r->offset, end);
}

void nbd_rmw_zero(struct nbd_req *r)
{
	uint32_t s = nbd_req_sector(r);

	r->a0 = nbd_round_down(r->offset, s);
	r->a1 = nbd_round_up(r->offset + r->len, s);
	r->charged = r->len < NBD_MAX_PAYLOAD ? r->len : NBD_MAX_PAYLOAD;
	r->conn->bytes_inflight += r->charged;
	nbd_req_lock(r, r->a0, r->a1, nbd_zero_locked);
}

static void nbd_trim_locked(struct nbd_range *lock)
{
	struct nbd_req *r = nbd_req_of_lock(lock);

	r->locked = true;
	nbd_slice_next(r);
}

void nbd_rmw_trim(struct nbd_req *r)
{
	uint32_t s = nbd_req_sector(r);

	/* The spec lets a trim shrink to whole sectors; what remains of a
	 * partial sector keeps its data. */
	r->next_off = nbd_round_up(r->offset, s);
	r->end_off = nbd_round_down(r->offset + r->len, s);
	if (r->next_off >= r->end_off) {
		nbd_reply_ok(r);
		return;
	}
	nbd_req_lock(r, r->next_off, r->end_off, nbd_trim_locked);
}

/* ---- flush ---- */

void nbd_rmw_flush(struct nbd_req *r)
{
	r->step = nbd_req_finish;
	nbd_req_submit(r, 0, VOLUME_FLUSH, 0, 0, 0, NULL);
}
