/* A test-only model of a virtio-crypto device's side of the rings: it reads
 * the avail rings, walks and checks every descriptor chain, does AES-XTS
 * with OpenSSL, writes the status and produces used entries. It is driven
 * through struct vcrypto_bus_ops, as the PCI device is, and works on the
 * same struct dma_pool the engine core uses (IOVAs are translated through
 * it, so an address outside the pool is a fault, as under an IOMMU).
 *
 * What it checks, as QEMU's device does: the chain is readable descriptors
 * then writable ones; the header is a cipher request for AES-XTS with a
 * 16-byte IV on a live session; source and destination lengths agree with
 * each other and with the descriptors. A violation sets NEEDS_RESET and the
 * device stops processing (fakedev.error says why).
 */
#ifndef CRYPTBLK_HELPER_VIRTIO_FAKEDEV_H
#define CRYPTBLK_HELPER_VIRTIO_FAKEDEV_H

#include "crypto/virtio/vcrypto.h"

#include <stdbool.h>
#include <stdint.h>

#define FAKEDEV_SESSIONS   16
#define FAKEDEV_SESSION_ID 1000 /* ids handed out start here */

struct fakedev_queue {
	bool enabled;
	uint16_t index, size;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t last_avail, used_idx;
};

struct fakedev_session {
	bool live;
	uint32_t op; /* VCRYPTO_SESS_OP_* */
	uint8_t key[64];
	uint32_t key_len;
};

struct fakedev {
	struct dma_pool *pool;
	struct fakedev_queue q[2]; /* [enum vcrypto_queue_role] */
	uint8_t status;		   /* starts as VIRTIO_S_RUNNING */

	/* Behaviour, set by the test. */
	bool auto_run;	       /* process the data queue on every doorbell */
	bool reverse;	       /* publish each run's used entries in reverse */
	bool refuse_512;       /* CREATE_SESSION with a 64-byte key: NOTSUPP */
	bool ctrl_silent;      /* never answer the control queue */
	uint64_t fail_request; /* this request (1-based count) gets status ERR */
	uint32_t bad_used_id;  /* if set, the next used entry names this id */

	/* What happened. */
	unsigned notifies, ctrl_notifies, stops;
	unsigned max_pending; /* most requests waiting at a doorbell */
	uint64_t processed;   /* data requests answered */
	struct fakedev_session sessions[FAKEDEV_SESSIONS];
	unsigned creates, destroys;
	char error[160]; /* why NEEDS_RESET was set */
};

extern const struct vcrypto_bus_ops fakedev_bus_ops;

void fakedev_init(struct fakedev *f, struct dma_pool *pool);
/* Answers up to `max` waiting data requests; returns how many. */
unsigned fakedev_run(struct fakedev *f, unsigned max);
/* Data requests the driver published and the device has not taken. */
unsigned fakedev_waiting(const struct fakedev *f);
unsigned fakedev_sessions_live(const struct fakedev *f);

#endif
