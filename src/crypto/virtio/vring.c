/* The split virtqueue, driver side: see vring.h. */
#include "crypto/virtio/vring.h"

#include <endian.h>
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

bool vring_size_valid(unsigned size)
{
	return size >= 1 && size <= VRING_SIZE_MAX && (size & (size - 1)) == 0;
}

size_t vring_desc_bytes(uint16_t size)
{
	return sizeof(struct vring_desc) * size;
}

/* flags, idx, ring[size], used_event */
size_t vring_avail_bytes(uint16_t size)
{
	return 4 + 2 * (size_t)size + 2;
}

/* flags, idx, ring[size], avail_event */
size_t vring_used_bytes(uint16_t size)
{
	return 4 + sizeof(struct vring_used_elem) * size + 2;
}

void vring_init(struct vring *r, uint16_t size, void *desc, void *avail, void *used)
{
	memset(desc, 0, vring_desc_bytes(size));
	memset(avail, 0, vring_avail_bytes(size));
	memset(used, 0, vring_used_bytes(size));
	*r = (struct vring){.size = size, .desc = desc, .avail = avail, .used = used};
}

void vring_desc_set(struct vring *r, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
		    uint16_t next)
{
	struct vring_desc *d = &r->desc[i & (r->size - 1)];

	d->addr = htole64(addr);
	d->len = htole32(len);
	d->flags = htole16(flags);
	d->next = htole16(next);
}

void vring_avail_push(struct vring *r, uint16_t head)
{
	r->avail->ring[r->avail_idx & (r->size - 1)] = htole16(head);
	r->avail_idx++;
	/* The device reads the index and then the entries (and descriptors and
	 * buffers) it covers: release orders all those stores before it. */
	__atomic_store_n(&r->avail->idx, htole16(r->avail_idx), __ATOMIC_RELEASE);
}

bool vring_kick_prepare(struct vring *r)
{
	uint16_t flags;

	r->kicked = r->avail_idx;
	/* Store-load ordering: the device clears NO_NOTIFY and then looks at
	 * the avail index once more; we publish the index and then look at
	 * the flag. With a full fence on both sides, one of us sees the
	 * other's store. */
	atomic_thread_fence(memory_order_seq_cst);
	flags = le16toh(__atomic_load_n(&r->used->flags, __ATOMIC_RELAXED));
	return !(flags & VRING_USED_F_NO_NOTIFY);
}

int vring_used_pop(struct vring *r, uint32_t *id, uint32_t *len)
{
	uint16_t dev_idx = le16toh(__atomic_load_n(&r->used->idx, __ATOMIC_ACQUIRE));
	uint16_t ready = (uint16_t)(dev_idx - r->used_idx);
	const struct vring_used_elem *e;

	if (ready == 0)
		return 0;
	if (ready > r->size)
		return -EPROTO;
	e = &r->used->ring[r->used_idx & (r->size - 1)];
	*id = le32toh(e->id);
	*len = le32toh(e->len);
	r->used_idx++;
	return 1;
}
