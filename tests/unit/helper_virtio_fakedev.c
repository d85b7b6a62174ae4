/* A model of a virtio-crypto device: see helper_virtio_fakedev.h. Written
 * from the virtio spec's description of the device side, not from the
 * driver: it re-derives every length and address from the descriptors. */
#include "helper_virtio_fakedev.h"

#include <endian.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define FAKE_OUT_MAX (sizeof(struct vcrypto_ctrl_req) + 4096 + 64)
#define FAKE_SEGS    8

struct fake_seg {
	uint8_t *p;
	uint32_t len;
};

/* A chain split into its readable bytes (copied) and writable segments. */
struct fake_chain {
	uint8_t out[FAKE_OUT_MAX];
	uint32_t out_len;
	struct fake_seg in[FAKE_SEGS];
	unsigned nr_in;
	uint32_t in_len;
};

static void fake_break(struct fakedev *f, const char *fmt, ...)
{
	va_list ap;

	if (f->status & VIRTIO_S_NEEDS_RESET)
		return;
	va_start(ap, fmt);
	vsnprintf(f->error, sizeof(f->error), fmt, ap);
	va_end(ap);
	f->status |= VIRTIO_S_NEEDS_RESET;
}

static bool fake_broken(const struct fakedev *f)
{
	return f->status != VIRTIO_S_RUNNING;
}

static int fake_chain_read(struct fakedev *f, struct fakedev_queue *q, uint16_t head,
			   struct fake_chain *c)
{
	uint16_t i = head;
	bool seen_write = false;

	c->out_len = c->in_len = 0;
	c->nr_in = 0;
	for (unsigned n = 0;; n++) {
		const struct vring_desc *d;
		uint64_t addr;
		uint32_t len;
		uint16_t flags;
		uint8_t *p;

		if (i >= q->size || n >= q->size) {
			fake_break(f, "chain from %u: index %u or length out of range", head, i);
			return -1;
		}
		d = &q->desc[i];
		addr = le64toh(d->addr);
		len = le32toh(d->len);
		flags = le16toh(d->flags);
		p = dma_pool_ptr(f->pool, addr, len);
		if (!p || len == 0) {
			fake_break(f, "descriptor %u: %u bytes at iova 0x%llx not in DMA memory", i,
				   len, (unsigned long long)addr);
			return -1;
		}
		if (flags & VRING_DESC_F_WRITE) {
			if (c->nr_in == FAKE_SEGS) {
				fake_break(f, "chain from %u: too many writable descriptors", head);
				return -1;
			}
			c->in[c->nr_in++] = (struct fake_seg){p, len};
			c->in_len += len;
			seen_write = true;
		} else {
			if (seen_write || len > FAKE_OUT_MAX - c->out_len) {
				fake_break(f,
					   "chain from %u: readable descriptor %u misplaced or too "
					   "long",
					   head, i);
				return -1;
			}
			memcpy(c->out + c->out_len, p, len);
			c->out_len += len;
		}
		if (!(flags & VRING_DESC_F_NEXT))
			return 0;
		i = le16toh(d->next);
	}
}

/* Writes `len` bytes into the chain's writable segments from offset `at`. */
static void fake_chain_write(struct fake_chain *c, uint32_t at, const uint8_t *src, uint32_t len)
{
	for (unsigned s = 0; s < c->nr_in && len; s++) {
		struct fake_seg *g = &c->in[s];

		if (at >= g->len) {
			at -= g->len;
			continue;
		}
		uint32_t n = g->len - at < len ? g->len - at : len;

		memcpy(g->p + at, src, n);
		src += n;
		len -= n;
		at = 0;
	}
}

static void fake_used_push(struct fakedev_queue *q, uint32_t id, uint32_t len)
{
	struct vring_used_elem *e = &q->used->ring[q->used_idx & (q->size - 1)];

	e->id = htole32(id);
	e->len = htole32(len);
	q->used_idx++;
	__atomic_store_n(&q->used->idx, htole16(q->used_idx), __ATOMIC_RELEASE);
}

static struct fakedev_session *fake_session(struct fakedev *f, uint64_t id)
{
	if (id < FAKEDEV_SESSION_ID || id >= FAKEDEV_SESSION_ID + FAKEDEV_SESSIONS)
		return NULL;
	return f->sessions[id - FAKEDEV_SESSION_ID].live ? &f->sessions[id - FAKEDEV_SESSION_ID]
							 : NULL;
}

static uint8_t fake_xts(const struct fakedev_session *s, const uint8_t *iv, const uint8_t *in,
			uint8_t *out, uint32_t len)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	const EVP_CIPHER *cipher = s->key_len == 32 ? EVP_aes_128_xts() : EVP_aes_256_xts();
	int outl = 0, ok;

	ok = ctx &&
	     EVP_CipherInit_ex(ctx, cipher, NULL, s->key, iv, s->op == VCRYPTO_SESS_OP_ENCRYPT) &&
	     EVP_CipherUpdate(ctx, out, &outl, in, (int)len) && outl == (int)len;
	EVP_CIPHER_CTX_free(ctx);
	return ok ? VCRYPTO_OK : VCRYPTO_ERR;
}

/* One data request; returns the bytes written, or -1 when the device broke. */
static int fake_data_request(struct fakedev *f, struct fake_chain *c)
{
	static uint8_t dst[4096];
	struct vcrypto_data_req req;
	const struct fakedev_session *s;
	uint32_t iv_len, src_len, dst_len, opcode;
	uint8_t status;

	if (c->out_len < sizeof(req)) {
		fake_break(f, "data request: %u readable bytes, no header", c->out_len);
		return -1;
	}
	memcpy(&req, c->out, sizeof(req));
	opcode = le32toh(req.header.opcode);
	iv_len = le32toh(req.cipher.iv_len);
	src_len = le32toh(req.cipher.src_data_len);
	dst_len = le32toh(req.cipher.dst_data_len);
	if ((opcode != VCRYPTO_OP_CIPHER_ENCRYPT && opcode != VCRYPTO_OP_CIPHER_DECRYPT) ||
	    le32toh(req.header.algo) != VCRYPTO_CIPHER_AES_XTS ||
	    le32toh(req.cipher.op_type) != VCRYPTO_SYM_OP_CIPHER || iv_len != 16) {
		fake_break(f, "data request: not an AES-XTS cipher request");
		return -1;
	}
	if (src_len != dst_len || src_len > sizeof(dst) ||
	    c->out_len != sizeof(req) + iv_len + src_len || c->in_len != dst_len + 1) {
		fake_break(f, "data request: lengths src %u dst %u, chain out %u in %u", src_len,
			   dst_len, c->out_len, c->in_len);
		return -1;
	}
	f->processed++;
	s = fake_session(f, le64toh(req.header.session_id));
	if (!s)
		status = VCRYPTO_INVSESS;
	else if (f->fail_request == f->processed)
		status = VCRYPTO_ERR;
	else
		status =
		    fake_xts(s, c->out + sizeof(req), c->out + sizeof(req) + iv_len, dst, src_len);
	if (status == VCRYPTO_OK)
		fake_chain_write(c, 0, dst, dst_len);
	fake_chain_write(c, dst_len, &status, 1);
	return (int)dst_len + 1;
}

unsigned fakedev_waiting(const struct fakedev *f)
{
	const struct fakedev_queue *q = &f->q[VCRYPTO_DATAQ];

	if (!q->enabled)
		return 0;
	return (uint16_t)(le16toh(__atomic_load_n(&q->avail->idx, __ATOMIC_ACQUIRE)) -
			  q->last_avail);
}

unsigned fakedev_run(struct fakedev *f, unsigned max)
{
	static struct fake_chain chain;
	struct fakedev_queue *q = &f->q[VCRYPTO_DATAQ];
	uint32_t ids[1024], lens[1024];
	unsigned n = 0;

	while (!fake_broken(f) && n < max && n < 1024 && fakedev_waiting(f) > 0) {
		uint16_t head = le16toh(q->avail->ring[q->last_avail & (q->size - 1)]);
		int len;

		q->last_avail++;
		if (fake_chain_read(f, q, head, &chain) != 0)
			break;
		len = fake_data_request(f, &chain);
		if (len < 0)
			break;
		ids[n] = head;
		lens[n] = (uint32_t)len;
		n++;
	}
	for (unsigned k = 0; k < n; k++) {
		unsigned j = f->reverse ? n - 1 - k : k;
		uint32_t id = ids[j];

		if (f->bad_used_id) {
			id = f->bad_used_id;
			f->bad_used_id = 0;
		}
		fake_used_push(q, id, lens[j]);
	}
	return n;
}

static uint32_t fake_session_create(struct fakedev *f, const struct fake_chain *c, uint64_t *id)
{
	const struct vcrypto_ctrl_req *req = (const void *)c->out;
	uint32_t key_len = le32toh(req->u.create.keylen), op = le32toh(req->u.create.op);

	if (le32toh(req->u.create.algo) != VCRYPTO_CIPHER_AES_XTS ||
	    le32toh(req->u.create.op_type) != VCRYPTO_SYM_OP_CIPHER)
		return VCRYPTO_NOTSUPP;
	if ((key_len != 32 && key_len != 64) || (key_len == 64 && f->refuse_512))
		return VCRYPTO_NOTSUPP;
	if ((op != VCRYPTO_SESS_OP_ENCRYPT && op != VCRYPTO_SESS_OP_DECRYPT) ||
	    c->out_len != sizeof(*req) + key_len)
		return VCRYPTO_BADMSG;
	for (unsigned i = 0; i < FAKEDEV_SESSIONS; i++) {
		struct fakedev_session *s = &f->sessions[i];

		if (s->live)
			continue;
		s->live = true;
		s->op = op;
		s->key_len = key_len;
		memcpy(s->key, c->out + sizeof(*req), key_len);
		*id = FAKEDEV_SESSION_ID + i;
		f->creates++;
		return VCRYPTO_OK;
	}
	return VCRYPTO_NOSPC;
}

static void fake_ctrl_request(struct fakedev *f, uint16_t head)
{
	static struct fake_chain chain;
	struct fakedev_queue *q = &f->q[VCRYPTO_CTRLQ];
	const struct vcrypto_ctrl_req *req = (const void *)chain.out;
	struct vcrypto_session_input in = {0};
	struct fakedev_session *s;
	uint32_t opcode;
	uint8_t status;

	if (fake_chain_read(f, q, head, &chain) != 0)
		return;
	if (chain.out_len < sizeof(*req)) {
		fake_break(f, "control request: %u readable bytes", chain.out_len);
		return;
	}
	opcode = le32toh(req->header.opcode);
	if (opcode == VCRYPTO_OP_CIPHER_CREATE_SESS && chain.in_len == sizeof(in)) {
		uint64_t id = 0;

		in.status = htole32(fake_session_create(f, &chain, &id));
		in.session_id = htole64(id);
		fake_chain_write(&chain, 0, (const uint8_t *)&in, sizeof(in));
		fake_used_push(q, head, sizeof(in));
	} else if (opcode == VCRYPTO_OP_CIPHER_DESTROY_SESS && chain.in_len == 1) {
		s = fake_session(f, le64toh(req->u.destroy.session_id));
		status = s ? VCRYPTO_OK : VCRYPTO_INVSESS;
		if (s) {
			memset(s, 0, sizeof(*s));
			f->destroys++;
		}
		fake_chain_write(&chain, 0, &status, 1);
		fake_used_push(q, head, 1);
	} else {
		fake_break(f, "control request: opcode 0x%x with %u writable bytes", opcode,
			   chain.in_len);
	}
}

static void fake_ctrl_run(struct fakedev *f)
{
	struct fakedev_queue *q = &f->q[VCRYPTO_CTRLQ];

	while (!fake_broken(f) && !f->ctrl_silent && q->enabled &&
	       (uint16_t)(le16toh(q->avail->idx) - q->last_avail) > 0) {
		uint16_t head = le16toh(q->avail->ring[q->last_avail & (q->size - 1)]);

		q->last_avail++;
		fake_ctrl_request(f, head);
	}
}

static int fake_queue_setup(void *bus, uint16_t index, enum vcrypto_queue_role role, uint16_t size,
			    uint64_t desc, uint64_t avail, uint64_t used)
{
	struct fakedev *f = bus;
	struct fakedev_queue *q = &f->q[role];

	*q = (struct fakedev_queue){
	    .index = index,
	    .size = size,
	    .desc = dma_pool_ptr(f->pool, desc, vring_desc_bytes(size)),
	    .avail = dma_pool_ptr(f->pool, avail, vring_avail_bytes(size)),
	    .used = dma_pool_ptr(f->pool, used, vring_used_bytes(size)),
	};
	if (!q->desc || !q->avail || !q->used || !vring_size_valid(size))
		return -EINVAL;
	q->enabled = true;
	f->status = VIRTIO_S_RUNNING;
	return 0;
}

static void fake_notify(void *bus, uint16_t index)
{
	struct fakedev *f = bus;

	if (index == f->q[VCRYPTO_CTRLQ].index) {
		f->ctrl_notifies++;
		fake_ctrl_run(f);
		return;
	}
	f->notifies++;
	if (fakedev_waiting(f) > f->max_pending)
		f->max_pending = fakedev_waiting(f);
	if (f->auto_run)
		fakedev_run(f, UINT32_MAX);
}

static uint8_t fake_status(void *bus)
{
	return ((struct fakedev *)bus)->status;
}

static void fake_stop(void *bus)
{
	struct fakedev *f = bus;

	f->stops++;
	f->status = 0;
	f->q[0].enabled = f->q[1].enabled = false;
}

/* The fake answers inside the doorbell; a silent one makes the caller wait
 * for its deadline, a millisecond at a time. */
static int fake_ctrl_wait(void *bus, int timeout_ms)
{
	const struct timespec ms = {.tv_nsec = 1000000};

	(void)timeout_ms;
	if (((struct fakedev *)bus)->ctrl_silent)
		nanosleep(&ms, NULL);
	return 0;
}

const struct vcrypto_bus_ops fakedev_bus_ops = {
    .queue_setup = fake_queue_setup,
    .notify = fake_notify,
    .status = fake_status,
    .stop = fake_stop,
    .ctrl_wait = fake_ctrl_wait,
};

void fakedev_init(struct fakedev *f, struct dma_pool *pool)
{
	memset(f, 0, sizeof(*f));
	f->pool = pool;
	f->status = VIRTIO_S_RUNNING;
}

unsigned fakedev_sessions_live(const struct fakedev *f)
{
	unsigned n = 0;

	for (unsigned i = 0; i < FAKEDEV_SESSIONS; i++)
		n += f->sessions[i].live;
	return n;
}
