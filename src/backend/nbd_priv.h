/* The remote NBD backend's pieces: the backend shared by every thread
 * (nbd.c), and one connection per loop with its reconnection (nbd_conn.c).
 * See docs/architecture.md, "Storage backends", remote NBD. */
#ifndef CRYPTBLK_BACKEND_NBD_PRIV_H
#define CRYPTBLK_BACKEND_NBD_PRIV_H

#include "backend_priv.h"

#include <libnbd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct nbd_conn;

/* The backend: what the export is, shared by every loop. */
struct nbd_remote {
	struct backend be;
	char *uri;
	uint64_t reconnect_timeout_ns;
	uint32_t max_rw; /* largest READ/WRITE the remote takes */
	bool multi_conn, can_flush;
	pthread_mutex_t lock; /* guards conns and spares */
	struct nbd_conn *conns;
	/* Connected handles no loop uses: the one open made, and those of
	 * loops that detached while idle. A new loop takes one before it
	 * connects anew. */
	struct nbd_handle **spares;
	unsigned nr_spares, cap_spares;
};

/* One libnbd handle and the polls on its socket. A link outlives its use:
 * once retired it waits for its polls' final CQEs before the handle is
 * closed (or parked as a spare), because a poll holds the socket open. */
struct nbd_link {
	struct nbd_conn *conn;
	struct nbd_handle *h;
	struct loop_op rpoll, wpoll, rcancel, wcancel;
	int rfd, wfd; /* the fd each poll watches; -1 when not armed */
	bool rcancelling, wcancelling;
	unsigned ops;  /* of the four above, in flight */
	bool up;       /* the handshake finished and the export checked */
	bool draining; /* the remote is shutting down: nothing new goes here */
	bool retired, park;
	uint64_t started_ns;
};

/* The connection of one loop: its link, the I/Os waiting for a link, the
 * I/Os libnbd finished whose done() has not run yet, the reconnect timer. */
struct nbd_conn {
	struct nbd_remote *r;
	struct loop *loop;
	struct nbd_conn *next; /* in r->conns */
	struct nbd_link *link; /* NULL between attempts */
	unsigned nr_links;     /* allocated, the current one and retired ones */
	struct backend_io *held_head, *held_tail;
	struct backend_io *done_head, *done_tail;
	unsigned completions; /* libnbd completion callbacks so far */
	struct loop_op timer_op, timer_cancel;
	struct __kernel_timespec timer_ts;
	bool timer_armed, timer_cancelling;
	uint64_t down_since_ns; /* 0 while a link is up */
	uint32_t backoff_ms;
	bool failing; /* down for longer than the reconnect timeout */
	bool detached;
	bool said_down; /* a "lost" line was printed; "connected again" follows */
};

/* A new handle set up the way every connection of this backend is. */
struct nbd_handle *nbd_remote_handle_new(const struct nbd_remote *r);
/* 0 when a freshly connected handle serves the export that open saw. */
int nbd_remote_handle_check(const struct nbd_remote *r, struct nbd_handle *h);
void nbd_remote_spare_put(struct nbd_remote *r, struct nbd_handle *h);
struct nbd_handle *nbd_remote_spare_take(struct nbd_remote *r);

/* nbd_conn.c */
struct nbd_conn *nbd_conn_new(struct nbd_remote *r, struct loop *loop);
/* Send `io` now, hold it for the next link, or fail it while failing. */
void nbd_conn_queue(struct nbd_conn *c, struct backend_io *io);
/* Stop using the loop: cancel polls and the timer; the conn frees itself
 * when their CQEs have arrived. */
void nbd_conn_detach(struct nbd_conn *c);
/* At backend close, for a conn that never detached (its loop is gone). */
void nbd_conn_abandon(struct nbd_conn *c);

#endif
