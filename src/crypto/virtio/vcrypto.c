/* The virtio-crypto engine core, data path: see vcrypto.h.
 *
 * Request slot s owns descriptors 4s .. 4s+3 for good, so a used entry's id
 * names its slot and nothing is allocated per request. Slots are free on a
 * stack; a job tracker counts a job's sectors; at most one accepted job
 * (`feeding`) waits for free slots, and while it does submit() answers
 * -EBUSY, so jobs reach the device in the order they were submitted.
 */
#include "crypto/virtio/vcrypto.h"
#include "crypto/xts.h"

#include <cryptblk/clock.h>
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define VCRYPTO_AREA_ALIGN  64
#define VCRYPTO_STATUS_NONE 0xff /* not a status the device would write */

static size_t vcrypto_ring_bytes(uint16_t size)
{
	return vring_desc_bytes(size) + vring_avail_bytes(size) + 4 + vring_used_bytes(size) +
	       3 * VCRYPTO_AREA_ALIGN;
}

size_t vcrypto_dma_bytes(const struct vcrypto_queues *q)
{
	size_t slots = q->data_size / VCRYPTO_DESC_PER_REQ;

	return vcrypto_ring_bytes(q->data_size) + vcrypto_ring_bytes(q->ctrl_size) +
	       slots * sizeof(struct vcrypto_req_mem) + VCRYPTO_AREA_ALIGN +
	       slots * VCRYPTO_SECTOR_MAX + DMA_POOL_PAGE + sizeof(struct vcrypto_ctrl_mem) +
	       VCRYPTO_AREA_ALIGN;
}

/* The used ring starts 4 bytes past an 8-byte boundary (the spec asks for
 * 4), so its 8-byte elements are 8-byte aligned and none straddles a page.
 * QEMU 7.2 writes the second half of an element that straddles an IOMMU
 * page to a wrong address (its cached-ring slow path): a DMA fault, and a
 * used length that never arrives. Descriptors (16 bytes at 16-byte
 * alignment) and avail entries (2 bytes, even addresses) never straddle. */
static int vcrypto_carve_ring(struct vcrypto *vc, uint16_t size, void *area[3])
{
	uint8_t *used = dma_pool_carve(vc->pool, 4 + vring_used_bytes(size), VCRYPTO_AREA_ALIGN);

	area[0] = dma_pool_carve(vc->pool, vring_desc_bytes(size), VCRYPTO_AREA_ALIGN);
	area[1] = dma_pool_carve(vc->pool, vring_avail_bytes(size), VCRYPTO_AREA_ALIGN);
	area[2] = used ? used + 4 : NULL;
	return area[0] && area[1] && area[2] ? 0 : -ENOMEM;
}

static int vcrypto_carve(struct vcrypto *vc)
{
	size_t n = vc->nr_slots;
	int err = vcrypto_carve_ring(vc, vc->q.data_size, vc->data_area);

	if (!err)
		err = vcrypto_carve_ring(vc, vc->q.ctrl_size, vc->ctrl_area);
	if (err)
		return err;
	vc->reqs = dma_pool_carve(vc->pool, n * sizeof(*vc->reqs), VCRYPTO_AREA_ALIGN);
	vc->bounce = dma_pool_carve(vc->pool, n * VCRYPTO_SECTOR_MAX, DMA_POOL_PAGE);
	vc->ctrl_mem = dma_pool_carve(vc->pool, sizeof(*vc->ctrl_mem), VCRYPTO_AREA_ALIGN);
	if (!vc->reqs || !vc->bounce || !vc->ctrl_mem)
		return -ENOMEM;
	vc->slots = calloc(n, sizeof(*vc->slots));
	vc->free_slots = calloc(n, sizeof(*vc->free_slots));
	vc->tracks = calloc(n, sizeof(*vc->tracks));
	return vc->slots && vc->free_slots && vc->tracks ? 0 : -ENOMEM;
}

int vcrypto_init(struct vcrypto *vc, const char *name, const struct vcrypto_bus_ops *ops, void *bus,
		 struct dma_pool *pool, const struct vcrypto_queues *q)
{
	int err;

	memset(vc, 0, sizeof(*vc));
	if (!vring_size_valid(q->data_size) || q->data_size < VCRYPTO_DESC_PER_REQ ||
	    !vring_size_valid(q->ctrl_size) || q->ctrl_size < 2)
		return -EINVAL;
	vc->ops = ops;
	vc->bus = bus;
	vc->pool = pool;
	vc->q = *q;
	snprintf(vc->name, sizeof(vc->name), "%s", name);
	vc->nr_slots = q->data_size / VCRYPTO_DESC_PER_REQ;
	vc->stall_ms = VCRYPTO_STALL_MS;
	vc->ctrl_timeout_ms = VCRYPTO_CTRL_TIMEOUT_MS;
	vc->batch = VCRYPTO_BATCH;
	vc->max_sector = VCRYPTO_SECTOR_MAX;
	err = vcrypto_carve(vc);
	if (!err)
		err = vcrypto_start(vc);
	if (err)
		vcrypto_fini(vc);
	return err;
}

int vcrypto_start(struct vcrypto *vc)
{
	const struct dma_pool *p = vc->pool;
	void **d = vc->data_area, **c = vc->ctrl_area;
	int err;

	vring_init(&vc->data, vc->q.data_size, d[0], d[1], d[2]);
	vring_init(&vc->ctrl, vc->q.ctrl_size, c[0], c[1], c[2]);
	memset(vc->slots, 0, vc->nr_slots * sizeof(*vc->slots));
	memset(vc->tracks, 0, vc->nr_slots * sizeof(*vc->tracks));
	/* Slot 0 on top of the stack: the first requests use the lowest
	 * descriptors, which makes traces easier to read. */
	for (uint16_t i = 0; i < vc->nr_slots; i++)
		vc->free_slots[i] = (uint16_t)(vc->nr_slots - 1 - i);
	vc->nr_free = vc->nr_slots;
	vc->free_tracks = NULL;
	for (uint16_t i = vc->nr_slots; i-- > 0;) {
		vc->tracks[i].next = vc->free_tracks;
		vc->free_tracks = &vc->tracks[i];
	}
	vc->feeding = NULL;
	atomic_store(&vc->outstanding, 0);
	err = vc->ops->queue_setup(vc->bus, vc->q.data_index, VCRYPTO_DATAQ, vc->q.data_size,
				   dma_pool_iova(p, d[0]), dma_pool_iova(p, d[1]),
				   dma_pool_iova(p, d[2]));
	if (!err)
		err = vc->ops->queue_setup(vc->bus, vc->q.ctrl_index, VCRYPTO_CTRLQ,
					   vc->q.ctrl_size, dma_pool_iova(p, c[0]),
					   dma_pool_iova(p, c[1]), dma_pool_iova(p, c[2]));
	vc->state = err ? VCRYPTO_FAILED : VCRYPTO_RUNNING;
	return err;
}

void vcrypto_fini(struct vcrypto *vc)
{
	free(vc->slots);
	free(vc->free_slots);
	free(vc->tracks);
	vc->slots = NULL;
	vc->free_slots = NULL;
	vc->tracks = NULL;
}

static void vcrypto_kick(struct vcrypto *vc)
{
	if (vring_unkicked(&vc->data) == 0)
		return;
	if (vring_kick_prepare(&vc->data)) {
		vc->ops->notify(vc->bus, vc->q.data_index);
		vc->stats.notifies++;
	}
}

/* The request header and tweak the device reads for sector i of a job. */
static void vcrypto_req_fill(struct vcrypto *vc, struct vcrypto_req_mem *m,
			     const struct crypto_job *job, uint32_t i)
{
	uint32_t ss = job->sector_size;

	memset(&m->req, 0, sizeof(m->req));
	m->req.header.opcode = htole32(job->dir == CRYPTO_ENCRYPT ? VCRYPTO_OP_CIPHER_ENCRYPT
								  : VCRYPTO_OP_CIPHER_DECRYPT);
	m->req.header.algo = htole32(VCRYPTO_CIPHER_AES_XTS);
	m->req.header.session_id = htole64(vc->keys[job->key_slot].session[job->dir]);
	m->req.cipher.iv_len = htole32(VCRYPTO_IV_LEN);
	m->req.cipher.src_data_len = htole32(ss);
	m->req.cipher.dst_data_len = htole32(vc->malform_next ? ss + 16 : ss);
	m->req.cipher.op_type = htole32(VCRYPTO_SYM_OP_CIPHER);
	vc->malform_next = false;
	xts_iv_encode(m->iv, crypto_job_sector_iv(job, i));
	m->status = VCRYPTO_STATUS_NONE;
}

/* Sector `t->posted` of the job into a free slot, published at once. A
 * source outside the pool is copied into the slot's bounce sector; a
 * destination outside it gets the bounce sector, copied out on completion. */
static void vcrypto_post(struct vcrypto *vc, struct vcrypto_track *t)
{
	const struct crypto_job *job = t->job;
	uint32_t ss = job->sector_size, i = t->posted++;
	size_t off = (size_t)i * ss;
	uint16_t s = vc->free_slots[--vc->nr_free];
	struct vcrypto_slot *slot = &vc->slots[s];
	struct vcrypto_req_mem *m = &vc->reqs[s];
	uint8_t *bounce = vc->bounce + (size_t)s * VCRYPTO_SECTOR_MAX;
	uint16_t head = (uint16_t)(s * VCRYPTO_DESC_PER_REQ);
	uint64_t src, dst;

	vcrypto_req_fill(vc, m, job, i);
	if (!t->src_in_pool)
		memcpy(bounce, job->src + off, ss);
	src = dma_pool_iova(vc->pool, t->src_in_pool ? job->src + off : bounce);
	dst = dma_pool_iova(vc->pool, t->dst_in_pool ? job->dst + off : bounce);
	slot->copy_to = t->dst_in_pool ? NULL : job->dst + off;

	vring_desc_set(&vc->data, head, dma_pool_iova(vc->pool, m), sizeof(m->req) + VCRYPTO_IV_LEN,
		       VRING_DESC_F_NEXT, head + 1);
	vring_desc_set(&vc->data, head + 1, src, ss, VRING_DESC_F_NEXT, head + 2);
	vring_desc_set(&vc->data, head + 2, dst, ss, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT,
		       head + 3);
	vring_desc_set(&vc->data, head + 3, dma_pool_iova(vc->pool, &m->status), 1,
		       VRING_DESC_F_WRITE, 0);
	slot->track = t;
	if (atomic_fetch_add_explicit(&vc->outstanding, 1, memory_order_relaxed) == 0)
		vc->last_progress_ns = clock_now_ns();
	vring_avail_push(&vc->data, head);
	vc->stats.requests++;
	if (vring_unkicked(&vc->data) >= vc->batch)
		vcrypto_kick(vc);
}

static void vcrypto_feed(struct vcrypto *vc, struct vcrypto_track *t)
{
	while (t->posted < t->job->nr_sectors && vc->nr_free > 0)
		vcrypto_post(vc, t);
	vc->feeding = t->posted < t->job->nr_sectors ? t : NULL;
}

int vcrypto_submit(struct vcrypto *vc, struct crypto_job *job)
{
	struct vcrypto_track *t;
	size_t len;
	int err = crypto_job_check(job);

	if (err)
		return err;
	if (vc->state != VCRYPTO_RUNNING)
		return -EIO;
	if (!vc->keys[job->key_slot].keyed)
		return -ENOKEY;
	if (job->sector_size > vc->max_sector)
		return -EOPNOTSUPP;
	if (vc->feeding || vc->nr_free == 0 || !vc->free_tracks)
		return -EBUSY;
	len = (size_t)job->nr_sectors * job->sector_size;
	t = vc->free_tracks;
	vc->free_tracks = t->next;
	*t = (struct vcrypto_track){
	    .job = job,
	    .src_in_pool = dma_pool_contains(vc->pool, job->src, len),
	    .dst_in_pool = dma_pool_contains(vc->pool, job->dst, len),
	};
	vc->keys[job->key_slot].jobs++;
	vcrypto_feed(vc, t);
	return 0;
}

static void vcrypto_track_finish(struct vcrypto *vc, struct vcrypto_track *t, int result)
{
	struct crypto_job *job = t->job;

	job->result = result;
	job->next = NULL;
	if (vc->done_tail)
		vc->done_tail->next = job;
	else
		vc->done_head = job;
	vc->done_tail = job;
	vc->keys[job->key_slot].jobs--;
	if (vc->feeding == t)
		vc->feeding = NULL;
	t->job = NULL;
	t->next = vc->free_tracks;
	vc->free_tracks = t;
}

static void vcrypto_slot_release(struct vcrypto *vc, uint16_t s)
{
	vc->slots[s].track = NULL;
	vc->slots[s].copy_to = NULL;
	vc->free_slots[vc->nr_free++] = s;
	atomic_fetch_sub_explicit(&vc->outstanding, 1, memory_order_relaxed);
}

static void vcrypto_slot_finish(struct vcrypto *vc, uint16_t s)
{
	struct vcrypto_slot *slot = &vc->slots[s];
	struct vcrypto_track *t = slot->track;
	uint8_t status = vc->reqs[s].status;

	if (status == VCRYPTO_OK) {
		if (slot->copy_to)
			memcpy(slot->copy_to, vc->bounce + (size_t)s * VCRYPTO_SECTOR_MAX,
			       t->job->sector_size);
	} else {
		vc->stats.device_errors++;
		if (t->result == 0)
			t->result = -EIO;
		if (!vc->told_device_error)
			fprintf(stderr,
				"cryptblk: virtio: %s: the device failed a request with status %u; "
				"its job fails with EIO\n",
				vc->name, status);
		vc->told_device_error = true;
	}
	vcrypto_slot_release(vc, s);
	if (++t->done == t->job->nr_sectors)
		vcrypto_track_finish(vc, t, t->result);
}

static unsigned vcrypto_reap(struct vcrypto *vc)
{
	uint32_t id, len;
	unsigned n = 0;
	int r;

	while ((r = vring_used_pop(&vc->data, &id, &len)) == 1) {
		uint32_t s = id / VCRYPTO_DESC_PER_REQ;

		if (id >= vc->data.size || id % VCRYPTO_DESC_PER_REQ || !vc->slots[s].track) {
			char why[96];

			snprintf(why, sizeof(why),
				 "the used ring names descriptor %u, not a request "
				 "in flight",
				 id);
			vcrypto_fail(vc, why);
			return n;
		}
		vcrypto_slot_finish(vc, (uint16_t)s);
		n++;
	}
	if (r < 0)
		vcrypto_fail(vc, "the used ring's index ran past the requests in flight");
	if (n)
		vc->last_progress_ns = clock_now_ns();
	return n;
}

const char *vcrypto_status_trouble(uint8_t status)
{
	if (status == 0xff)
		return "the device does not answer (its status reads 0xff)";
	if (status & VIRTIO_S_NEEDS_RESET)
		return "the device needs a reset (NEEDS_RESET)";
	if (status != VIRTIO_S_RUNNING)
		return "the device was reset or stopped by someone else";
	return NULL;
}

/* Called when requests are in flight and nothing came back. */
static void vcrypto_check(struct vcrypto *vc)
{
	uint8_t status = vc->ops->status(vc->bus);
	const char *trouble = vcrypto_status_trouble(status);
	char why[128];

	if (trouble) {
		snprintf(why, sizeof(why), "%s (status 0x%02x)", trouble, status);
		vcrypto_fail(vc, why);
	} else if (clock_now_ns() - vc->last_progress_ns >= vc->stall_ms * 1000000ull) {
		snprintf(why, sizeof(why), "no answer from the device for %u ms", vc->stall_ms);
		vcrypto_fail(vc, why);
	}
}

struct crypto_job *vcrypto_complete(struct vcrypto *vc)
{
	struct crypto_job *list;
	unsigned reaped;

	if (vc->state == VCRYPTO_RUNNING) {
		/* Announce what waits first: a device that answers at once
		 * (QEMU under TCG does, inside the doorbell) is reaped now. */
		vcrypto_kick(vc);
		reaped = vcrypto_reap(vc);
		if (vc->state == VCRYPTO_RUNNING && vc->feeding)
			vcrypto_feed(vc, vc->feeding);
		if (vc->state == VCRYPTO_RUNNING)
			vcrypto_kick(vc);
		if (vc->state == VCRYPTO_RUNNING && reaped == 0 && vcrypto_outstanding(vc))
			vcrypto_check(vc);
	}
	list = vc->done_head;
	vc->done_head = vc->done_tail = NULL;
	return list;
}

void vcrypto_fail(struct vcrypto *vc, const char *why)
{
	unsigned jobs = 0;

	if (vc->state == VCRYPTO_FAILED)
		return;
	vc->state = VCRYPTO_FAILED;
	for (uint16_t i = 0; i < vc->nr_slots; i++)
		jobs += vc->tracks[i].job != NULL;
	fprintf(stderr,
		"cryptblk: virtio: %s: %s; %u job(s) in flight fail with EIO and the engine "
		"takes no more (restart to use the device again)\n",
		vc->name, why, jobs);
	/* Only once the device is stopped may the buffers it was given go
	 * back to their owners. */
	vc->ops->stop(vc->bus);
	for (uint16_t s = 0; s < vc->nr_slots; s++) {
		if (vc->slots[s].track)
			vcrypto_slot_release(vc, s);
	}
	atomic_store(&vc->outstanding, 0);
	for (uint16_t i = 0; i < vc->nr_slots; i++) {
		if (vc->tracks[i].job)
			vcrypto_track_finish(vc, &vc->tracks[i], -EIO);
	}
	vc->feeding = NULL;
}

void vcrypto_inject_malformed(struct vcrypto *vc)
{
	vc->malform_next = true;
}
