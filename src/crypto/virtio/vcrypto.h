/* The virtio-crypto engine core: key slots as device sessions, jobs as one
 * data request per sector, batching, reaping and failure.
 *
 * It works on rings and buffers in a struct dma_pool and reaches the device
 * only through struct vcrypto_bus_ops, so the same code runs against the
 * PCI device (virtio_engine.c) and against a fake device in the unit tests.
 * Everything here runs on the thread that owns the engine, except
 * vcrypto_outstanding(), which any thread may read.
 */
#ifndef CRYPTBLK_CRYPTO_VIRTIO_VCRYPTO_H
#define CRYPTBLK_CRYPTO_VIRTIO_VCRYPTO_H

#include "crypto/virtio/dmapool.h"
#include "crypto/virtio/vcrypto_wire.h"
#include "crypto/virtio/vring.h"

#include <cryptblk/crypto.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define VCRYPTO_DESC_PER_REQ	4    /* header+IV, src, dst, status */
#define VCRYPTO_SECTOR_MAX	4096 /* bounce sector per request slot */
#define VCRYPTO_IV_LEN		16
#define VCRYPTO_BATCH		16 /* requests per doorbell at most */
#define VCRYPTO_CTRL_SIZE	8  /* control ring entries we ask for */
#define VCRYPTO_CTRL_TIMEOUT_MS 5000
#define VCRYPTO_STALL_MS	10000

/* Device status bits (virtio 1.x "Device Status Field"). */
#define VIRTIO_S_ACKNOWLEDGE 1
#define VIRTIO_S_DRIVER	     2
#define VIRTIO_S_DRIVER_OK   4
#define VIRTIO_S_FEATURES_OK 8
#define VIRTIO_S_NEEDS_RESET 64
#define VIRTIO_S_FAILED	     128
#define VIRTIO_S_RUNNING                                                                           \
	(VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK | VIRTIO_S_DRIVER_OK)

enum vcrypto_queue_role {
	VCRYPTO_DATAQ,
	VCRYPTO_CTRLQ,
};

/* What the core needs from the device's transport. */
struct vcrypto_bus_ops {
	/* Program queue `index` with its size and ring addresses (IOVAs),
	 * route its interrupt by role, enable it. 0 or a negative errno. */
	int (*queue_setup)(void *bus, uint16_t index, enum vcrypto_queue_role role, uint16_t size,
			   uint64_t desc, uint64_t avail, uint64_t used);
	/* Ring the queue's doorbell. */
	void (*notify)(void *bus, uint16_t index);
	/* The device status register. */
	uint8_t (*status)(void *bus);
	/* Reset the device and stop its DMA: when this returns, the device
	 * touches no memory of ours any more. */
	void (*stop)(void *bus);
	/* Sleep until the control queue's interrupt or `timeout_ms`; 0 (look
	 * at the ring again) or a negative errno other than timing out. */
	int (*ctrl_wait)(void *bus, int timeout_ms);
};

/* Sizes and indices of the two queues, from the device. */
struct vcrypto_queues {
	uint16_t data_index, data_size; /* size: power of two, >= 4 */
	uint16_t ctrl_index, ctrl_size; /* size: power of two, >= 2 */
};

enum vcrypto_state {
	VCRYPTO_RUNNING,
	VCRYPTO_FAILED, /* reset; refuses everything but close */
};

/* One data request in flight: slot s owns descriptors 4s .. 4s+3. */
struct vcrypto_slot {
	struct vcrypto_track *track; /* NULL while free */
	uint8_t *copy_to;	     /* destination outside the pool, or NULL */
};

/* A job between submit and complete. */
struct vcrypto_track {
	struct crypto_job *job; /* NULL while free */
	uint32_t posted, done;	/* sectors */
	int result;		/* first error */
	bool src_in_pool, dst_in_pool;
	struct vcrypto_track *next; /* free list */
};

/* Device memory of one request slot: the request header and tweak the
 * device reads, the status byte it writes. */
struct vcrypto_req_mem {
	struct vcrypto_data_req req;
	uint8_t iv[VCRYPTO_IV_LEN];
	uint8_t status;
	uint8_t pad[7];
} __attribute__((packed));
_Static_assert(sizeof(struct vcrypto_req_mem) == 96, "request slot memory");

/* Device memory of the control queue: one command at a time. */
struct vcrypto_ctrl_mem {
	struct vcrypto_ctrl_req req;
	uint8_t key[CRYPTO_MAX_KEY_LEN]; /* follows req: one readable descriptor */
	struct vcrypto_session_input input;
	uint8_t status; /* the answer to DESTROY_SESSION */
} __attribute__((packed));

struct vcrypto_keyslot {
	bool keyed;	     /* jobs may use the slot */
	bool live;	     /* its sessions exist on the device */
	uint64_t session[2]; /* [enum crypto_dir] */
	unsigned jobs;	     /* in flight on this slot */
};

struct vcrypto_stats {
	uint64_t requests, notifies, device_errors;
	unsigned sessions_created, sessions_destroyed;
};

struct vcrypto {
	const struct vcrypto_bus_ops *ops;
	void *bus;
	struct dma_pool *pool;
	char name[32]; /* for messages: the PCI address */
	struct vcrypto_queues q;
	enum vcrypto_state state;

	struct vring data, ctrl;
	void *data_area[3], *ctrl_area[3]; /* desc, avail, used */
	struct vcrypto_req_mem *reqs;	   /* [nr_slots] */
	uint8_t *bounce;		   /* [nr_slots][VCRYPTO_SECTOR_MAX] */
	struct vcrypto_ctrl_mem *ctrl_mem;

	uint16_t nr_slots, nr_free;
	struct vcrypto_slot *slots;
	uint16_t *free_slots; /* stack */
	struct vcrypto_track *tracks, *free_tracks;
	struct vcrypto_track *feeding; /* accepted, sectors not all posted */
	struct crypto_job *done_head, *done_tail;

	_Atomic unsigned outstanding; /* requests the device holds */
	uint64_t last_progress_ns;
	unsigned stall_ms;	  /* no answer for this long: FAILED */
	unsigned ctrl_timeout_ms; /* a control command's answer */
	unsigned batch;
	uint32_t max_sector; /* largest sector the device takes in one request */
	bool malform_next;   /* vcrypto_inject_malformed() */
	bool told_device_error;

	struct vcrypto_keyslot keys[CRYPTO_KEY_SLOTS];
	struct vcrypto_stats stats;
};

/* Bytes of the pool's fixed part that vcrypto_init() carves. */
size_t vcrypto_dma_bytes(const struct vcrypto_queues *q);

/* Carves the rings and request memory from `pool`, then vcrypto_start().
 * The device must be between FEATURES_OK and DRIVER_OK; the caller sets
 * DRIVER_OK afterwards. */
int vcrypto_init(struct vcrypto *vc, const char *name, const struct vcrypto_bus_ops *ops, void *bus,
		 struct dma_pool *pool, const struct vcrypto_queues *q);
/* (Re)initialises both rings and programs them into the device: used at
 * open, and at close of a failed engine after the device was reset. Only
 * with no job in flight. Sets the state to RUNNING. */
int vcrypto_start(struct vcrypto *vc);
void vcrypto_fini(struct vcrypto *vc);

/* Sessions for a key slot: an encrypt and a decrypt session, replacing the
 * slot's previous pair once both exist. -EOPNOTSUPP: the device refuses
 * AES-XTS or this key size; -ENOSPC: no free session; -EBUSY: jobs in
 * flight on the slot; -EIO: the engine failed (or the device answered
 * with an error); -ETIMEDOUT: no answer (the engine is now FAILED). */
int vcrypto_key_set(struct vcrypto *vc, unsigned slot, const uint8_t *key, size_t key_len);
/* The slot takes no more jobs; its sessions are destroyed now if the
 * engine runs, else at close (vcrypto_keys_clear_all). */
void vcrypto_key_clear(struct vcrypto *vc, unsigned slot);
/* Sessions of all slots: at close. Returns how many could not be
 * destroyed (they stay on the device). */
unsigned vcrypto_keys_clear_all(struct vcrypto *vc);
/* Live sessions the engine holds (two per keyed slot). */
unsigned vcrypto_sessions_live(const struct vcrypto *vc);

/* The engine contract (crypto.h): 0, -EBUSY when the ring is full or a
 * job still waits for room, -ENOKEY, -EINVAL, -EOPNOTSUPP (sectors larger
 * than the device takes), or -EIO once FAILED. */
int vcrypto_submit(struct vcrypto *vc, struct crypto_job *job);
/* Rings the doorbell for what is unannounced, reaps, feeds, checks a quiet
 * device; returns finished jobs. Never sleeps, except when it finds the
 * device broken: going FAILED waits for the device's reset to read back
 * (at most a second). */
struct crypto_job *vcrypto_complete(struct vcrypto *vc);

/* Requests the device holds; safe from any thread (the watchdog). */
static inline unsigned vcrypto_outstanding(struct vcrypto *vc)
{
	return atomic_load_explicit(&vc->outstanding, memory_order_relaxed);
}

/* Goes FAILED: stops the device, fails every job in flight with -EIO (they
 * come back from the next vcrypto_complete()), prints `why`. */
void vcrypto_fail(struct vcrypto *vc, const char *why);

/* What is wrong with a device whose status register reads `status`, or
 * NULL when it is the running status the engine set. */
const char *vcrypto_status_trouble(uint8_t status);

/* For tests only: the next request posted claims a destination 16 bytes
 * longer than its source (a malformed request: the device is expected to
 * go NEEDS_RESET). */
void vcrypto_inject_malformed(struct vcrypto *vc);

#endif
