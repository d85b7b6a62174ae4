/* Storage under a volume: the ciphertext lives here.
 *
 * A backend serves asynchronous I/Os through the loop of the thread that
 * submits them. Each `struct backend_io` is owned by the backend from
 * backend_submit() until its done callback, which runs on the loop's thread
 * with 0 or a negative errno. Short reads and writes are finished by the
 * backend; the caller sees only whole success or an error.
 */
#ifndef CRYPTBLK_BACKEND_H
#define CRYPTBLK_BACKEND_H

#include <cryptblk/loop.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum backend_op {
	BACKEND_READ,
	BACKEND_WRITE,
	BACKEND_FLUSH,	 /* make every completed write durable */
	BACKEND_DISCARD, /* punch a hole: reads back as zeros */
};

struct backend_io;
typedef void (*backend_done_fn)(struct backend_io *io, int res);

struct backend_io {
	/* filled by the caller */
	uint8_t op;	 /* enum backend_op */
	void *buf;	 /* READ/WRITE data */
	uint32_t len;	 /* bytes; 0 for FLUSH */
	uint64_t offset; /* bytes from the start of the backend */
	backend_done_fn done;
	void *priv;

	/* owned by the backend while in flight */
	struct loop_op op_;
	struct loop *loop;
	uint32_t done_bytes;
	void *backend_priv;
};

struct backend;

struct backend_ops {
	const char *name;
	/* required: queue the io on `loop`; errors are reported via done() */
	void (*submit)(struct backend *be, struct loop *loop, struct backend_io *io);
	/* required */
	void (*close)(struct backend *be);
	/* optional: `loop` submits nothing more (none of its I/Os is in
	 * flight). The backend cancels what it keeps armed there (socket
	 * polls, timers) so the loop can run dry before it is destroyed. */
	void (*detach)(struct backend *be, struct loop *loop);
};

struct backend {
	const struct backend_ops *ops;
	uint64_t size; /* bytes */
	bool read_only;
	bool can_discard;    /* DISCARD punches holes */
	uint32_t block_size; /* logical block size of the device (512 for files) */
};

enum backend_file_flags {
	BACKEND_FILE_READONLY = 1u << 0,
	BACKEND_FILE_DIRECT = 1u << 1, /* O_DIRECT for aligned requests */
};

/* A regular file or a block device. */
int backend_file_open(const char *path, unsigned flags, struct backend **out);

enum backend_nbd_flags {
	BACKEND_NBD_READONLY = 1u << 0,
};

/* A remote NBD export named by an NBD URI (nbd://, nbds://, nbd+unix://,
 * nbds+unix://; TLS files through the URI's query). Open connects once,
 * blocking, to learn the export's size and abilities. Every loop that
 * submits gets its own connection (call backend_detach() before that loop
 * ends). A dropped connection is made again in the background and the I/Os
 * it carried are sent again; I/Os still waiting `reconnect_timeout_s`
 * seconds (0: 30) after the drop fail with -EIO, as do new ones, until a
 * connection is back. */
int backend_nbd_open(const char *uri, unsigned flags, unsigned reconnect_timeout_s,
		     struct backend **out);
/* Whether several loops (connections) may share the backend: the remote
 * promised that a flush on one connection covers writes on every other.
 * True for backends that are not remote. */
bool backend_nbd_multi_conn(const struct backend *be);
/* libnbd's words for the last backend_nbd_open() that failed on this
 * thread ("" when none did). */
const char *backend_nbd_error(void);

/* A decorator that fails chosen I/Os, for tests only: every I/O of `op` that
 * overlaps [offset, offset+len) completes with `err` (a negative errno such
 * as -EIO or -ENOSPC) without reaching the inner backend, until
 * backend_fault_clear(). Closing the decorator closes the inner backend. */
int backend_fault_wrap(struct backend *inner, struct backend **out);
int backend_fault_add(struct backend *faulty, enum backend_op op, uint64_t offset, uint64_t len,
		      int err);
/* A short rule (READ or WRITE only): a matching io that starts before
 * `offset` has its part before `offset` transferred, then fails with `err`,
 * like a device that stops part-way; one that starts inside the range
 * transfers nothing. A write cut short has changed the storage. */
int backend_fault_add_short(struct backend *faulty, enum backend_op op, uint64_t offset,
			    uint64_t len, int err);
void backend_fault_clear(struct backend *faulty);

static inline void backend_submit(struct backend *be, struct loop *loop, struct backend_io *io)
{
	be->ops->submit(be, loop, io);
}

static inline void backend_detach(struct backend *be, struct loop *loop)
{
	if (be && be->ops->detach)
		be->ops->detach(be, loop);
}

static inline void backend_close(struct backend *be)
{
	if (be)
		be->ops->close(be);
}

#endif
