/* The ublk server: a volume served as /dev/ublkbN through the kernel's
 * ublk driver (/dev/ublk-control, /dev/ublkcN).
 *
 * The server knows nothing of LUKS or engines: on each of its queue threads
 * it calls ops->open to get that thread's volume (opened over the caller's
 * shared backend, with an engine attached to that thread's loop), and
 * ops->close when the queue is finished with it.
 *
 * Typical use: block SIGINT/SIGTERM in the calling thread, then
 * ublk_server_create() (adds and starts the device), ublk_server_watch_signals(),
 * ublk_server_run() until a signal or ublk_server_stop(), then
 * ublk_server_destroy() (stops and deletes the device). Needs CAP_SYS_ADMIN.
 * See docs/architecture.md, "ublk frontend".
 */
#ifndef CRYPTBLK_UBLK_H
#define CRYPTBLK_UBLK_H

#include <cryptblk/loop.h>
#include <cryptblk/volume.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UBLK_DEFAULT_QUEUE_DEPTH 64
#define UBLK_DEFAULT_MAX_IO	 (512u * 1024)

struct ublk_thread_ops {
	/* required: runs on queue thread `index`; opens the volume that
	 * queue serves, driven by `loop` (attach the engine to it). */
	int (*open)(void *ctx, unsigned index, struct loop *loop, struct volume **out);
	/* required: runs on the same thread after the last request was
	 * answered and the volume flushed; closes the volume and its engine. */
	void (*close)(void *ctx, unsigned index, struct volume *vol);
};

/* How request data moves between the kernel and the server's buffers. */
enum ublk_copy_mode {
	UBLK_COPY_AUTO = 0, /* USER_COPY when the kernel has it, else BUFFER */
	UBLK_COPY_USER,	    /* UBLK_F_USER_COPY: pread/pwrite on /dev/ublkcN; -EOPNOTSUPP without */
	UBLK_COPY_BUFFER,   /* the kernel copies into and out of the tag's buffer */
};

struct ublk_server_config {
	int dev_id;			   /* N of /dev/ublkbN; -1: the kernel picks */
	unsigned queues;		   /* 0: 1; the kernel allows at most one per CPU */
	unsigned queue_depth;		   /* 0: UBLK_DEFAULT_QUEUE_DEPTH; at most 4096 */
	uint32_t max_io_bytes;		   /* largest request; 0: UBLK_DEFAULT_MAX_IO */
	bool read_only;			   /* also forced when the volume is read-only */
	bool discard;			   /* advertise DISCARD: the volume punches holes */
	enum ublk_copy_mode copy;	   /* UBLK_COPY_AUTO by default */
	const struct ublk_thread_ops *ops; /* required */
	void *ctx;			   /* passed to ops */
};

struct ublk_server;

/* Add the device, start the queue threads (each opens its volume), set the
 * parameters from the volume's geometry and start /dev/ublkbN. On failure
 * nothing is left behind (the device is stopped and deleted), one line on
 * stderr names the step ("cryptblk: ublk: ADD_DEV 3: File exists") and the
 * negative errno is returned. */
int ublk_server_create(const struct ublk_server_config *cfg, struct ublk_server **out);

/* N of /dev/ublkbN and /dev/ublkcN. */
int ublk_server_dev_id(const struct ublk_server *srv);
/* The queue count and depth the kernel granted, and the UBLK_F_* flags it
 * accepted (UBLK_F_USER_COPY tells the copy mode in use). */
unsigned ublk_server_queues(const struct ublk_server *srv);
unsigned ublk_server_queue_depth(const struct ublk_server *srv);
uint64_t ublk_server_flags(const struct ublk_server *srv);
/* Data moves with UBLK_F_USER_COPY (else the kernel copies into buffers). */
bool ublk_server_user_copy(const struct ublk_server *srv);

/* Stop when one of the signals in `set` arrives (a signalfd). Block them in
 * every thread first: call pthread_sigmask() before ublk_server_create() so
 * the queue threads inherit the mask. */
int ublk_server_watch_signals(struct ublk_server *srv, const sigset_t *set);

/* Run fn(ctx) on the thread in ublk_server_run() when `fd` becomes readable
 * (a child's pidfd, say); fn may call ublk_server_stop(). The caller keeps
 * `fd` open until the server is destroyed. */
int ublk_server_watch_fd(struct ublk_server *srv, int fd, void (*fn)(void *ctx), void *ctx);

/* Wait until a watched signal, ublk_server_stop() or a failed queue.
 * Returns 0, or the failed queue's negative errno. */
int ublk_server_run(struct ublk_server *srv);

/* Make ublk_server_run() return. Safe from any thread and from a signal
 * handler, more than once. */
void ublk_server_stop(struct ublk_server *srv);

/* Stop the device (the kernel writes back and removes /dev/ublkbN, the
 * queues answer what is in flight, flush and close their volumes), delete
 * it, free everything. Call it on the thread that created the server.
 * Returns 0 or the first error met by a queue or by the teardown. */
int ublk_server_destroy(struct ublk_server *srv);

/* One ublk device of this host, for `cryptblk list`. */
struct ublk_dev_entry {
	int dev_id;
	int state;     /* UBLK_S_DEV_*: 0 dead, 1 live, 2 quiesced, 3 fail-io; -1 unknown */
	int pid;       /* the server's, or -1 (none) / 0 (unknown) */
	char comm[16]; /* /proc/PID/comm of that server, "" when gone */
	unsigned queues, depth; /* 0 when unknown */
	uint64_t flags;		/* UBLK_F_* */
	uint64_t size;		/* bytes of /dev/ublkbN, 0 without a disk */
	uint32_t block_size;	/* logical block size, 0 without a disk */
	bool info_known;	/* GET_DEV_INFO answered (needs CAP_SYS_ADMIN) */
};

/* The devices in /sys/class/ublk-char, each with what GET_DEV_INFO and
 * sysfs say. *out is malloc'ed (free it), sorted by id; *count may be 0
 * (also when the ublk_drv module is not loaded). */
int ublk_list_devices(struct ublk_dev_entry **out, size_t *count);

/* The name of a UBLK_S_DEV_* state: "dead", "live", "quiesced", "fail-io",
 * "unknown". */
const char *ublk_state_name(int state);

#endif
