/* Internals of the NBD server shared by its files. One connection belongs to
 * one worker thread; only the range lock table is shared between threads. */
#ifndef CRYPTBLK_NBD_INT_H
#define CRYPTBLK_NBD_INT_H

#include "wire.h"

#include <cryptblk/nbd.h>
#include <cryptblk/rangeq.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NBD_DEFAULT_MAX_REQUESTS      64u
#define NBD_DEFAULT_MAX_BYTES	      (64ull * 1024 * 1024)
#define NBD_READ_PREFIX		      4096u /* reply header room in front of read data */
#define NBD_DEFAULT_HANDSHAKE_TIMEOUT 10u   /* seconds */
#define NBD_DEFAULT_MAX_CONNECTIONS   256u

struct nbd_worker;
struct nbd_conn;

/* ---- growable byte buffer for option replies (options.c) ---- */
struct nbd_buf {
	uint8_t *data;
	size_t len, cap;
	int error; /* sticky -ENOMEM */
};

void nbd_buf_put(struct nbd_buf *b, const void *p, size_t n);
void nbd_buf_free(struct nbd_buf *b);

/* ---- range locks (rangelock.c) ---- */
struct nbd_range {
	struct rangeq_entry q; /* [start, end) in bytes */
	struct nbd_worker *owner;
	void (*granted)(struct nbd_range *r); /* runs on the owner's thread */
	struct nbd_range *grant_next;	      /* the owner's grant list */
};

struct nbd_rangelock {
	pthread_mutex_t mutex;
	struct rangeq q;
};

int nbd_rangelock_init(struct nbd_rangelock *rl);
void nbd_rangelock_destroy(struct nbd_rangelock *rl);
/* true: held now. false: queued; r->granted runs later on r->owner's thread. */
bool nbd_range_acquire(struct nbd_rangelock *rl, struct nbd_range *r);
void nbd_range_release(struct nbd_rangelock *rl, struct nbd_range *r);
/* On the worker's thread: run the granted callbacks queued for it. */
unsigned nbd_worker_run_grants(struct nbd_worker *w);

/* ---- server and workers (server.c) ---- */
struct nbd_server {
	struct nbd_server_config cfg;
	char *export_name;
	char *description;
	struct nbd_rangelock locks;
	atomic_bool stopping;
	atomic_uint next_worker;
	atomic_uint nr_conns;	  /* open connections over all workers */
	atomic_bool cap_reported; /* the refusal at the cap was logged */
	struct nbd_worker *workers;
	unsigned nworkers;

	/* control loop: accept, stop */
	struct loop *loop;
	int wake_fd;
	struct loop_watch *wake_watch;
	struct nbd_listener *listeners;
	struct nbd_fdwatch *fdwatches;
	char *unix_path;
	bool loop_stopped;
};

/* Reusable data buffers of one worker (bufpool.c). */
#define NBD_POOL_MAX_BUFS  32
#define NBD_POOL_MAX_BYTES (96ull * 1024 * 1024)

struct nbd_pool {
	void *buf[NBD_POOL_MAX_BUFS];
	size_t cap[NBD_POOL_MAX_BUFS];
	unsigned nr;
	size_t bytes;
};

/* A 4096-aligned buffer of at least `len` bytes; *cap gets its real size. */
void *nbd_pool_get(struct nbd_worker *w, size_t len, size_t *cap);
void nbd_pool_put(struct nbd_worker *w, void *buf, size_t cap);
void nbd_pool_destroy(struct nbd_worker *w);

struct nbd_worker {
	struct nbd_server *srv;
	unsigned index;
	pthread_t thread;
	bool thread_started;
	struct loop *loop;
	struct volume *vol;
	int wake_fd;
	struct loop_watch *wake_watch;

	/* export facts, fixed once the volume is open */
	uint64_t size;
	uint32_t sector_size;
	bool read_only;

	/* sockets handed over by other threads */
	pthread_mutex_t mutex;
	int *new_fds;
	unsigned nr_new_fds, cap_new_fds;

	/* range lock grants for this worker (guarded by the lock table mutex) */
	struct nbd_range *grants, *grants_tail;
	atomic_bool has_grants;

	struct nbd_conn *conns;
	unsigned nr_conns;

	/* once a second: close connections past their handshake deadline */
	struct loop_op tick_op, tick_cancel_op;
	struct __kernel_timespec tick_ts;
	bool tick_armed;
	struct nbd_pool pool;
	bool draining, flushing, finished;
	struct volume_req flush_req;
	int error;

	/* start-up handshake with nbd_server_create */
	pthread_mutex_t start_mutex;
	pthread_cond_t start_cond;
	bool started;
	int start_error;
};

void nbd_worker_wake(struct nbd_worker *w);
/* A connection counted in srv->nr_conns is gone (closed or never started). */
void nbd_server_conn_gone(struct nbd_server *srv);
/* watch.c: cancel the control loop's fd watches; free them once idle */
void nbd_server_cancel_fdwatches(struct nbd_server *srv);
void nbd_server_free_fdwatches(struct nbd_server *srv);
/* Start the thread and wait until its volume is open (worker.c). */
int nbd_worker_start(struct nbd_worker *w);
/* Queue a connected socket for the worker; it owns `fd` from now on. */
int nbd_worker_hand_fd(struct nbd_worker *w, int fd);

/* ---- connections (conn.c) ---- */
enum nbd_conn_state {
	NBD_CONN_HANDSHAKE,
	NBD_CONN_OPTIONS,
	NBD_CONN_TRANSMISSION,
	NBD_CONN_DRAINING,
};

/* One message on a connection's send queue. `sent` runs once, after the
 * last byte left (err 0; with TLS: after the last byte was encrypted) or
 * when the connection failed (err < 0); it owns the memory of the message
 * and frees it. */
struct nbd_send {
	struct nbd_send *next;
	const uint8_t *buf;
	uint32_t len, done;
	void (*sent)(struct nbd_send *s, int err);
};

typedef void (*nbd_recv_fn)(struct nbd_conn *c, int err);

struct nbd_conn {
	struct nbd_worker *w;
	struct nbd_conn *next, *prev;
	int fd;
	enum nbd_conn_state state;
	uint64_t deadline_ns; /* CLOCK_MONOTONIC: transmission must start by then */
	bool fatal;	      /* stream unusable: drop replies, close when idle */

	/* one receive at a time: exactly `recv_len` bytes into recv_buf */
	struct loop_op recv_op;
	uint8_t *recv_buf;
	uint32_t recv_len, recv_done;
	nbd_recv_fn recv_cb;
	bool recv_busy;

	/* one send at a time from a FIFO of messages */
	struct loop_op send_op;
	struct nbd_send *send_head, *send_tail;
	bool send_busy;

	/* after NBD_OPT_STARTTLS: the record layer (tls.c); the first
	 * `tls_raw` queued messages (the STARTTLS ack and what preceded it)
	 * still leave in plaintext */
	struct nbd_tls_conn *tls;
	unsigned tls_raw;

	/* handshake and options */
	uint8_t client_flags[4];
	struct nbd_wire_opt opt_hdr;
	uint8_t *opt_data;
	uint32_t opt_len;
	bool no_zeroes;
	bool structured;
	bool meta_base_allocation;

	/* transmission */
	struct nbd_wire_request req_hdr;
	struct nbd_req *rx_req; /* write whose payload is being received */
	unsigned reqs_inflight;
	uint64_t bytes_inflight;
	bool reading; /* a header receive is armed or a payload is coming */
};

int nbd_conn_start(struct nbd_worker *w, int fd);
/* For the TLS layer: end the pending receive (the callback runs here);
 * take the head message off the queue with its result; drop all queued
 * messages; start the next send if none is in flight. */
void nbd_conn_recv_finish(struct nbd_conn *c, int err);
void nbd_conn_send_pop(struct nbd_conn *c, int err);
void nbd_conn_send_drop_all(struct nbd_conn *c);
void nbd_conn_send_kick(struct nbd_conn *c);
/* Receive exactly `len` bytes; cb(c, 0) when done, cb(c, -errno) on error,
 * cb(c, -ECONNRESET) on EOF (-ENODATA if EOF came before the first byte). */
void nbd_conn_recv(struct nbd_conn *c, void *buf, uint32_t len, nbd_recv_fn cb);
void nbd_conn_send(struct nbd_conn *c, struct nbd_send *s);
/* Protocol violation or socket error: stop everything, close when idle. */
void nbd_conn_fail(struct nbd_conn *c, const char *why);
/* Stop reading requests; finish those in flight; close when idle. */
void nbd_conn_drain(struct nbd_conn *c);
/* Free the connection if nothing of it is in flight any more. */
void nbd_conn_maybe_close(struct nbd_conn *c);
/* Send a copy of a small message (greeting, option replies). */
int nbd_conn_send_copy(struct nbd_conn *c, const void *buf, size_t len);

/* ---- handshake and options (handshake.c, options.c) ---- */
void nbd_handshake_start(struct nbd_conn *c);

enum nbd_opt_action {
	NBD_OPT_CONTINUE,  /* replies built; read the next option */
	NBD_OPT_TRANSMIT,  /* replies built; enter transmission */
	NBD_OPT_ABORTED,   /* ack built; close once sent */
	NBD_OPT_CLOSE,	   /* close now, no reply; ctx->why says why */
	NBD_OPT_START_TLS, /* ack built; send it in plaintext, then TLS */
};

struct nbd_opt_ctx {
	/* export facts */
	const char *name;
	const char *description;
	uint64_t size;
	uint32_t sector_size;
	bool read_only;
	bool tls_required; /* the server has TLS: FORCEDTLS mode */
	bool tls_active;   /* this connection did NBD_OPT_STARTTLS */
	/* negotiated state, changed by the options */
	bool no_zeroes;
	bool structured;
	bool meta_base_allocation;
	const char *why; /* set with NBD_OPT_CLOSE */
};

enum nbd_opt_action nbd_option_handle(struct nbd_opt_ctx *ctx, uint32_t option, const uint8_t *data,
				      uint32_t len, struct nbd_buf *out);
uint16_t nbd_transmission_flags(const struct nbd_opt_ctx *ctx);

/* ---- TLS (tlsctx.c: the context; tls.c: a connection's record layer) ---- */
struct ssl_ctx_st;
struct nbd_tls {
	struct ssl_ctx_st *ctx;
};

/* The oldest queued OpenSSL error as text; the thread's queue is cleared. */
void nbd_tls_error_string(char *buf, size_t len);
/* After the STARTTLS ack was queued: every later byte in both directions is
 * TLS. Returns 0 or -ENOMEM. */
int nbd_tls_conn_start(struct nbd_conn *c);
void nbd_tls_conn_free(struct nbd_conn *c);
/* Fill the pending receive (c->recv_buf) with decrypted bytes. */
void nbd_tls_recv_arm(struct nbd_conn *c);
/* Encrypt queued messages and send the ciphertext, if no send is in flight. */
void nbd_tls_send_kick(struct nbd_conn *c);
/* Before the socket closes: queue close_notify once. true when nothing is
 * left to send and the socket may close. */
bool nbd_tls_close_ready(struct nbd_conn *c);

/* ---- transmission (transmission.c, rmw.c, reply.c) ---- */
struct nbd_req {
	struct nbd_conn *conn;
	uint16_t type, flags;
	uint64_t handle, offset;
	uint32_t len;
	int error;

	/* sector-aligned cover [a0, a1) and the buffer over it */
	uint64_t a0, a1;
	uint8_t *buf;		 /* aligned data starts at buf + NBD_READ_PREFIX for reads */
	size_t buf_len, buf_cap; /* buf_cap: from the worker's pool */
	uint8_t *edge;		 /* two sectors for read-modify-write of the edges */
	uint64_t charged;

	struct nbd_range lock;
	bool locked;
	struct volume_req vreq[2];
	unsigned vpending;
	void (*step)(struct nbd_req *r); /* next step once vpending reaches 0 */
	uint64_t next_off, end_off;	 /* zero/trim slices still to do */

	struct nbd_send send;
	uint8_t msg[sizeof(struct nbd_wire_chunk) + sizeof(struct nbd_wire_chunk_error) +
		    NBD_ERROR_MSG_MAX];
};

void nbd_transmission_start(struct nbd_conn *c);
/* Arm the next header receive if caps and state allow (after a reply left). */
void nbd_transmission_resume(struct nbd_conn *c);

/* rmw.c: the data paths once a request is valid */
void nbd_rmw_read(struct nbd_req *r);
void nbd_rmw_write(struct nbd_req *r);
void nbd_rmw_zero(struct nbd_req *r);
void nbd_rmw_trim(struct nbd_req *r);
void nbd_rmw_flush(struct nbd_req *r);
/* Submit one volume request of `r` (slot 0 or 1). */
void nbd_req_submit(struct nbd_req *r, unsigned slot, uint8_t op, uint32_t flags, uint64_t off,
		    uint64_t len, void *buf);

/* reply.c */
uint32_t nbd_errno_to_wire(int err);
void nbd_reply_ok(struct nbd_req *r);
void nbd_reply_error(struct nbd_req *r, int err, const char *msg);
void nbd_reply_read(struct nbd_req *r, uint8_t *data);
void nbd_reply_block_status(struct nbd_req *r);
/* Free a request whose reply will never be sent (connection failed). */
void nbd_req_free(struct nbd_req *r);

#endif
