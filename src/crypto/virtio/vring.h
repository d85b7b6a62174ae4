/* The split virtqueue (virtio 1.x, "Split Virtqueues"), driver side.
 *
 * Three areas in memory the device can reach: the descriptor table, the
 * avail ring (driver -> device: heads of descriptor chains) and the used
 * ring (device -> driver: heads it finished, with the bytes it wrote). The
 * indices in both rings run freely from 0 to 65535 and wrap; the ring slot
 * is the index modulo the queue size, a power of two. This module only
 * reads and writes that memory, with the barriers the protocol needs; what
 * the chains mean is the caller's business.
 */
#ifndef CRYPTBLK_CRYPTO_VIRTIO_VRING_H
#define CRYPTBLK_CRYPTO_VIRTIO_VRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VRING_DESC_F_NEXT	   1
#define VRING_DESC_F_WRITE	   2
#define VRING_AVAIL_F_NO_INTERRUPT 1
#define VRING_USED_F_NO_NOTIFY	   1

#define VRING_SIZE_MAX 32768

/* Alignment the spec requires of each area. */
#define VRING_DESC_ALIGN  16
#define VRING_AVAIL_ALIGN 2
#define VRING_USED_ALIGN  4

struct vring_desc {
	uint64_t addr; /* little-endian, as every field below */
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};
_Static_assert(sizeof(struct vring_desc) == 16, "virtq_desc");

struct vring_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[]; /* size entries, then used_event */
};
_Static_assert(offsetof(struct vring_avail, ring) == 4, "virtq_avail");

struct vring_used_elem {
	uint32_t id;
	uint32_t len;
};
_Static_assert(sizeof(struct vring_used_elem) == 8, "virtq_used_elem");

struct vring_used {
	uint16_t flags;
	uint16_t idx;
	struct vring_used_elem ring[]; /* size entries, then avail_event */
};
_Static_assert(offsetof(struct vring_used, ring) == 4, "virtq_used");

struct vring {
	uint16_t size;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t avail_idx; /* the next avail index to publish */
	uint16_t used_idx;  /* the next used index to read */
	uint16_t kicked;    /* avail_idx when the device was last notified */
};

/* A queue size the split ring accepts: a power of two, 1..32768. */
bool vring_size_valid(unsigned size);
size_t vring_desc_bytes(uint16_t size);
size_t vring_avail_bytes(uint16_t size);
size_t vring_used_bytes(uint16_t size);

/* Zeroes the three areas and the indices. The areas must be as large as the
 * *_bytes functions say and aligned as VRING_*_ALIGN. */
void vring_init(struct vring *r, uint16_t size, void *desc, void *avail, void *used);

void vring_desc_set(struct vring *r, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
		    uint16_t next);

/* Publishes a chain head: the ring entry first, then (release) the index,
 * so the device never sees an index before its entry. */
void vring_avail_push(struct vring *r, uint16_t head);

/* Heads published since the last vring_kick_prepare(). */
static inline uint16_t vring_unkicked(const struct vring *r)
{
	return (uint16_t)(r->avail_idx - r->kicked);
}

/* Call before ringing the doorbell: counts everything published as kicked
 * and says whether the device wants the doorbell (it may have set
 * VRING_USED_F_NO_NOTIFY while it is busy with the queue anyway). The full
 * fence orders the index stores before the read of the flag, and before
 * the doorbell write the caller does next. */
bool vring_kick_prepare(struct vring *r);

/* Reads the next used entry if the device published one (acquire on the
 * index, so the entry and the buffers it names are seen complete).
 * Returns 1 with *id and *len, 0 when there is none, -EPROTO when the
 * device's index claims more entries than the ring holds. */
int vring_used_pop(struct vring *r, uint32_t *id, uint32_t *len);

#endif
