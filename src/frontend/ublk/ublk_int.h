/* Internals of the ublk server, shared by its files. See docs/architecture.md,
 * "ublk frontend". */
#ifndef CRYPTBLK_UBLK_INT_H
#define CRYPTBLK_UBLK_INT_H

#include <cryptblk/ublk.h>

#include "ublk_uapi.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- desc.c: pure helpers, no I/O ---- */

/* What the volume needs to know of a request, checked against the geometry
 * the device was started with. */
struct ublk_geometry {
	uint64_t size;	      /* bytes */
	uint32_t sector_size; /* the volume's: the device's logical block size */
	uint32_t max_io;      /* bytes of one tag's buffer */
};

/* Fill req->op, flags, offset, len from a descriptor. Returns 0, -EOPNOTSUPP
 * for an operation the server does not do, -EINVAL for a request that breaks
 * the geometry (unaligned, empty, past the end, larger than the buffer). */
int ublk_desc_to_req(const struct ublksrv_io_desc *desc, const struct ublk_geometry *geo,
		     struct volume_req *req);

/* The operation of a descriptor (bits 0-7). */
static inline uint8_t ublk_desc_op(const struct ublksrv_io_desc *desc)
{
	return (uint8_t)(desc->op_flags & 0xff);
}

/* Data moves from the kernel to the server before the volume runs (WRITE),
 * or from the server to the kernel after it (READ). */
bool ublk_op_data_in(uint8_t op);
bool ublk_op_data_out(uint8_t op);

/* The file offset of byte `off` of request (qid, tag) in /dev/ublkcN's
 * USER_COPY window. */
uint64_t ublk_user_copy_pos(uint16_t qid, uint16_t tag, uint32_t off);

/* The descriptor array of a queue: its length (depth descriptors, rounded
 * up to pages) and its offset in /dev/ublkcN (qid times the longest array). */
size_t ublk_desc_map_len(unsigned depth, size_t page_size);
uint64_t ublk_desc_map_offset(unsigned qid, size_t page_size);

/* The one translation of a request's outcome into the COMMIT result: the
 * byte count for a READ or WRITE that succeeded, 0 for other ops, a
 * negative errno the block layer names, or -EIO. */
int32_t ublk_io_result(uint8_t op, int err, uint32_t bytes);

/* Fill a loop op's SQE with an I/O command (16 bytes in sqe->cmd of a
 * normal SQE). */
void ublk_prep_io_cmd(struct io_uring_sqe *sqe, int char_fd, uint32_t cmd_op,
		      const struct ublksrv_io_cmd *cmd);

/* ---- params.c ---- */

struct ublk_params_in {
	uint64_t size;	      /* bytes */
	uint32_t sector_size; /* 512 ... 4096 */
	uint32_t max_io;      /* bytes, a multiple of the sector size */
	bool read_only;
	bool discard;
};

/* SET_PARAMS contents. Returns 0, or -EINVAL for a geometry the driver
 * would refuse (sector size not a power of two in 512..4096, size not a
 * multiple of it, max_io smaller than a sector). */
int ublk_params_build(const struct ublk_params_in *in, struct ublk_params *out);

/* ---- ctrl.c: the control device ---- */

struct ublk_ctrl {
	int fd; /* /dev/ublk-control */
	struct io_uring ring;
	bool ring_ok;
};

int ublk_ctrl_open(struct ublk_ctrl *ctrl);
void ublk_ctrl_close(struct ublk_ctrl *ctrl);
/* Each sends one command and waits for its answer: 0 or a negative errno. */
int ublk_ctrl_get_features(struct ublk_ctrl *ctrl, uint64_t *features);
int ublk_ctrl_add_dev(struct ublk_ctrl *ctrl, struct ublksrv_ctrl_dev_info *info);
int ublk_ctrl_set_params(struct ublk_ctrl *ctrl, uint32_t dev_id, struct ublk_params *params);
int ublk_ctrl_start_dev(struct ublk_ctrl *ctrl, uint32_t dev_id, int pid);
int ublk_ctrl_stop_dev(struct ublk_ctrl *ctrl, uint32_t dev_id);
int ublk_ctrl_del_dev(struct ublk_ctrl *ctrl, uint32_t dev_id);
int ublk_ctrl_get_dev_info(struct ublk_ctrl *ctrl, uint32_t dev_id,
			   struct ublksrv_ctrl_dev_info *info);
/* Fill a 128-byte SQE with a control command. */
void ublk_prep_ctrl_cmd(struct io_uring_sqe *sqe, int ctrl_fd, uint32_t cmd_op,
			const struct ublksrv_ctrl_cmd *cmd);

/* ---- queue.c: one queue thread ---- */

struct ublk_server;
struct ublk_tag;

struct ublk_queue {
	struct ublk_server *srv;
	uint16_t qid;
	unsigned depth;
	int char_fd;		  /* /dev/ublkcN, shared by every queue */
	bool user_copy;		  /* UBLK_F_USER_COPY accepted */
	struct ublk_geometry geo; /* filled once the volume is open */

	const struct ublksrv_io_desc *descs; /* read-only mapping */
	size_t descs_len;
	uint8_t *bufs; /* depth buffers of geo.max_io bytes */
	size_t bufs_len;
	struct ublk_tag *tags;

	pthread_t thread;
	bool thread_started;
	struct loop *loop;
	struct volume *vol;

	unsigned tags_live;	 /* tags whose command has not ended with ABORT */
	unsigned tags_in_kernel; /* tags whose FETCH/COMMIT waits in the kernel */
	bool flushing;		 /* the final flush is in flight */
	int error;		 /* first failure of the queue itself */
};

/* Map the descriptors (on the creating thread), then start the thread; it
 * reports through ublk_server_queue_ready() once its FETCHes are queued or
 * it failed. */
int ublk_queue_start(struct ublk_queue *q);
/* Join the thread and unmap; the thread ends after the device is stopped. */
void ublk_queue_join(struct ublk_queue *q);

/* ---- server.c, called from queue threads ---- */

/* The queue opened its volume and queued its FETCHes (err 0), or failed. */
void ublk_server_queue_ready(struct ublk_server *srv, struct ublk_queue *q, int err);
/* The queue failed after the device started: stop the server. */
void ublk_server_queue_failed(struct ublk_server *srv, struct ublk_queue *q, int err);
/* Copy of the thread ops for queue threads. */
const struct ublk_thread_ops *ublk_server_ops(const struct ublk_server *srv, void **ctx);
uint32_t ublk_server_max_io(const struct ublk_server *srv);

#endif
