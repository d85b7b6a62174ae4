/* One ublk queue: a thread with its own loop and volume, and `depth` tags,
 * each serving one request at a time:
 *
 *   FETCH or COMMIT_AND_FETCH in the kernel --CQE 0--> descriptor checked
 *     WRITE: [USER_COPY: read the request's data into the buffer] -> volume
 *     READ:  volume -> [USER_COPY: write the buffer into the request]
 *     other: volume
 *   --> COMMIT_AND_FETCH(result) in the kernel, and round again.
 *   CQE -ENODEV: the device stops; the tag is finished.
 *
 * When the last tag has finished the queue flushes its volume, hands it to
 * ops->close and lets the loop run dry. See docs/architecture.md. */
#include "ublk_int.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

enum ublk_tag_state {
	UBLK_TAG_IN_KERNEL, /* FETCH or COMMIT_AND_FETCH waits for a request */
	UBLK_TAG_COPY_IN,   /* USER_COPY: reading a WRITE's data */
	UBLK_TAG_VOLUME,    /* the volume has the request */
	UBLK_TAG_COPY_OUT,  /* USER_COPY: writing a READ's data */
	UBLK_TAG_ENDED,	    /* aborted by the kernel, or failed for good */
};

struct ublk_tag {
	struct loop_op cmd_op;	/* FETCH / COMMIT_AND_FETCH */
	struct loop_op copy_op; /* USER_COPY read or write on /dev/ublkcN */
	struct volume_req vreq;
	struct ublk_queue *q;
	uint8_t *buf;
	uint16_t tag;
	uint8_t state; /* enum ublk_tag_state */
	uint8_t op;    /* UBLK_IO_OP_* of the request being served */
	uint32_t len;  /* bytes of data of that request */
	uint32_t copied;
};

/* The final flush of the volume when the device stops. */
struct ublk_queue_flush {
	struct volume_req vreq;
	struct ublk_queue *q;
};

static struct ublk_tag *ublk_tag_of(struct loop_op *op, size_t member)
{
	return (struct ublk_tag *)((char *)op - member);
}

static void ublk_queue_fail(struct ublk_queue *q, int err, const char *what, unsigned tag)
{
	if (q->error)
		return;
	q->error = err ? err : -EIO;
	fprintf(stderr, "cryptblk: ublk: queue %u tag %u: %s: %s\n", q->qid, tag, what,
		strerror(-q->error));
	ublk_server_queue_failed(q->srv, q, q->error);
	/* A refused command leaves its request unanswered, which would keep
	 * STOP_DEV waiting: leave the loop, and tearing the ring down lets the
	 * kernel fail this queue's requests as if the server had died. */
	loop_stop(q->loop);
}

static void ublk_queue_all_ended(struct ublk_queue *q);
static void ublk_tag_cmd_done(struct loop_op *op, int res, uint32_t cqe_flags);

static void ublk_tag_send(struct ublk_tag *t, uint32_t cmd_op, int32_t result)
{
	struct ublk_queue *q = t->q;
	struct ublksrv_io_cmd cmd = {
	    .q_id = q->qid,
	    .tag = t->tag,
	    .result = result,
	    /* Copy mode: the kernel copies into and out of this buffer.
	     * USER_COPY: the address must be 0. */
	    .addr = q->user_copy ? 0 : (uint64_t)(uintptr_t)t->buf,
	};

	t->state = UBLK_TAG_IN_KERNEL;
	q->tags_in_kernel++;
	ublk_prep_io_cmd(&t->cmd_op.sqe, q->char_fd, cmd_op, &cmd);
	t->cmd_op.done = ublk_tag_cmd_done;
	loop_submit(q->loop, &t->cmd_op);
}

static void ublk_tag_commit(struct ublk_tag *t, int err)
{
	ublk_tag_send(t, UBLK_U_IO_COMMIT_AND_FETCH_REQ, ublk_io_result(t->op, err, t->len));
}

static void ublk_tag_end(struct ublk_tag *t)
{
	struct ublk_queue *q = t->q;

	t->state = UBLK_TAG_ENDED;
	if (--q->tags_live == 0)
		ublk_queue_all_ended(q);
}

static void ublk_tag_copy_done(struct loop_op *op, int res, uint32_t cqe_flags);

/* USER_COPY: move the rest of the request's data through /dev/ublkcN. */
static void ublk_tag_copy_next(struct ublk_tag *t)
{
	struct ublk_queue *q = t->q;
	uint64_t pos = ublk_user_copy_pos(q->qid, t->tag, t->copied);
	uint32_t left = t->len - t->copied;

	if (t->state == UBLK_TAG_COPY_IN)
		loop_prep_read(&t->copy_op, q->char_fd, t->buf + t->copied, left, pos);
	else
		loop_prep_write(&t->copy_op, q->char_fd, t->buf + t->copied, left, pos);
	t->copy_op.done = ublk_tag_copy_done;
	loop_submit(q->loop, &t->copy_op);
}

static void ublk_tag_volume_done(struct volume_req *req, int res);

static void ublk_tag_to_volume(struct ublk_tag *t)
{
	/* A copy that finished after the queue failed (and maybe closed its
	 * volume) gets its answer without the volume. */
	if (t->q->error || !t->q->vol) {
		ublk_tag_commit(t, -EIO);
		return;
	}
	t->state = UBLK_TAG_VOLUME;
	t->vreq.done = ublk_tag_volume_done;
	t->vreq.priv = t;
	t->vreq.buf = t->buf;
	/* The tag's buffer is not read again after a write: its data may be
	 * encrypted in place. */
	if (t->vreq.op == VOLUME_WRITE)
		t->vreq.flags |= VOLUME_F_CLOBBER;
	volume_submit(t->q->vol, &t->vreq);
}

static void ublk_tag_copy_done(struct loop_op *op, int res, uint32_t cqe_flags)
{
	struct ublk_tag *t = ublk_tag_of(op, offsetof(struct ublk_tag, copy_op));

	(void)cqe_flags;
	if (res <= 0) {
		/* 0 bytes: the request went away under us; nothing to move. */
		ublk_tag_commit(t, res < 0 ? res : -EIO);
		return;
	}
	t->copied += (uint32_t)res;
	if (t->copied < t->len) {
		ublk_tag_copy_next(t);
		return;
	}
	if (t->state == UBLK_TAG_COPY_IN)
		ublk_tag_to_volume(t);
	else
		ublk_tag_commit(t, 0);
}

static void ublk_tag_volume_done(struct volume_req *req, int res)
{
	struct ublk_tag *t = req->priv;

	if (res == 0 && t->q->user_copy && ublk_op_data_out(t->op)) {
		t->state = UBLK_TAG_COPY_OUT;
		t->copied = 0;
		ublk_tag_copy_next(t);
		return;
	}
	ublk_tag_commit(t, res);
}

/* A request arrived for the tag: its descriptor is in the mapped array. */
static void ublk_tag_serve(struct ublk_tag *t)
{
	struct ublk_queue *q = t->q;
	struct ublksrv_io_desc desc;
	int ret;

	/* Copy once: the kernel owns the array, and what is checked must be
	 * what is used. */
	memcpy(&desc, &q->descs[t->tag], sizeof(desc));
	t->op = ublk_desc_op(&desc);
	t->len = 0;
	t->copied = 0;
	memset(&t->vreq, 0, sizeof(t->vreq));
	ret = ublk_desc_to_req(&desc, &q->geo, &t->vreq);
	/* A failed queue answers what still arrives until its ring is gone. */
	if (!ret && (q->error || !q->vol))
		ret = -EIO;
	if (ret) {
		ublk_tag_commit(t, ret);
		return;
	}
	if (t->op == UBLK_IO_OP_READ || t->op == UBLK_IO_OP_WRITE)
		t->len = (uint32_t)t->vreq.len;
	if (q->user_copy && ublk_op_data_in(t->op)) {
		t->state = UBLK_TAG_COPY_IN;
		ublk_tag_copy_next(t);
		return;
	}
	ublk_tag_to_volume(t);
}

static void ublk_tag_cmd_done(struct loop_op *op, int res, uint32_t cqe_flags)
{
	struct ublk_tag *t = ublk_tag_of(op, offsetof(struct ublk_tag, cmd_op));

	(void)cqe_flags;
	t->q->tags_in_kernel--;
	if (res == UBLK_IO_RES_OK) {
		ublk_tag_serve(t);
		return;
	}
	/* NEED_GET_DATA (1) is never asked for: any other result than OK or
	 * ABORT is a refusal. */
	if (res != -UBLK_IO_RES_ABORT_ERRNO)
		ublk_queue_fail(t->q, res < 0 ? res : -EPROTO, "I/O command refused", t->tag);
	ublk_tag_end(t);
}

static void ublk_queue_flush_done(struct volume_req *req, int res)
{
	struct ublk_queue_flush *f = req->priv;
	struct ublk_queue *q = f->q;

	if (res < 0 && !q->error) {
		q->error = res;
		fprintf(stderr, "cryptblk: ublk: queue %u: final flush: %s\n", q->qid,
			strerror(-res));
	}
	q->flushing = false;
	free(f);
	loop_stop(q->loop);
}

/* Every tag has ended: the kernel has nothing more for this queue. Make the
 * writes durable before the volume closes. */
static void ublk_queue_all_ended(struct ublk_queue *q)
{
	struct ublk_queue_flush *f;

	if (q->error || !q->vol || volume_read_only(q->vol)) {
		loop_stop(q->loop);
		return;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		ublk_queue_fail(q, -ENOMEM, "final flush", 0);
		return;
	}
	f->q = q;
	f->vreq.op = VOLUME_FLUSH;
	f->vreq.done = ublk_queue_flush_done;
	f->vreq.priv = f;
	q->flushing = true;
	volume_submit(q->vol, &f->vreq);
}

static int ublk_queue_alloc_tags(struct ublk_queue *q)
{
	q->bufs_len = (size_t)q->depth * q->geo.max_io;
	/* Anonymous memory: a page costs only once a request touches it. */
	q->bufs =
	    mmap(NULL, q->bufs_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (q->bufs == MAP_FAILED) {
		q->bufs = NULL;
		return -errno;
	}
	q->tags = calloc(q->depth, sizeof(*q->tags));
	if (!q->tags)
		return -ENOMEM;
	for (unsigned i = 0; i < q->depth; i++) {
		struct ublk_tag *t = &q->tags[i];

		t->q = q;
		t->tag = (uint16_t)i;
		t->buf = q->bufs + (size_t)i * q->geo.max_io;
	}
	return 0;
}

/* Open the volume and queue a FETCH for every tag. */
static int ublk_queue_setup(struct ublk_queue *q)
{
	void *ctx;
	const struct ublk_thread_ops *ops = ublk_server_ops(q->srv, &ctx);
	unsigned entries = 2 * q->depth;
	int ret;

	/* Room for every tag's command and a copy; the loop queues the rest. */
	if (entries > 4096)
		entries = 4096;
	ret = loop_create(entries, &q->loop);
	if (ret)
		return ret;
	ret = ops->open(ctx, q->qid, q->loop, &q->vol);
	if (ret)
		return ret;
	q->geo.size = volume_size(q->vol);
	q->geo.sector_size = volume_sector_size(q->vol);
	q->geo.max_io = ublk_server_max_io(q->srv);
	ret = ublk_queue_alloc_tags(q);
	if (ret)
		return ret;
	q->tags_live = q->depth;
	for (unsigned i = 0; i < q->depth; i++)
		ublk_tag_send(&q->tags[i], UBLK_U_IO_FETCH_REQ, 0);
	/* Submit now: START_DEV waits for these. A FETCH the kernel refuses
	 * completes at once and has set q->error by the time this returns. */
	ret = loop_run_once(q->loop, false);
	return ret ? ret : q->error;
}

/* Leave the queue's loop in order: let the volume's requests finish (their
 * answers go to the kernel), close the volume, let the ops close() started
 * finish (engine watches being cancelled). Commands still waiting in the
 * kernel after a failure are cancelled by the ring's teardown. */
static void ublk_queue_finish(struct ublk_queue *q)
{
	void *ctx;
	const struct ublk_thread_ops *ops = ublk_server_ops(q->srv, &ctx);
	bool broken = false;

	while (q->vol && volume_inflight(q->vol) && !broken)
		broken = loop_run_once(q->loop, true) < 0;
	if (q->vol && !broken) {
		ops->close(ctx, q->qid, q->vol);
		q->vol = NULL;
	}
	while (loop_inflight(q->loop) > q->tags_in_kernel && !broken)
		broken = loop_run_once(q->loop, true) < 0;
	/* After a broken ring the volume may still point into it: leave it
	 * open rather than close it under its requests. */
	loop_destroy(q->loop);
	q->loop = NULL;
}

static void *ublk_queue_main(void *arg)
{
	struct ublk_queue *q = arg;
	int ret = ublk_queue_setup(q);

	ublk_server_queue_ready(q->srv, q, ret);
	if (ret == 0) {
		/* Until the last tag ended and the final flush finished, or
		 * the queue failed. */
		ret = loop_run(q->loop);
		if (ret < 0)
			ublk_queue_fail(q, ret, "event loop", 0);
	}
	if (q->loop)
		ublk_queue_finish(q);
	return NULL;
}

int ublk_queue_start(struct ublk_queue *q)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	void *p;
	int ret;

	q->descs_len = ublk_desc_map_len(q->depth, page);
	p = mmap(NULL, q->descs_len, PROT_READ, MAP_SHARED | MAP_POPULATE, q->char_fd,
		 (off_t)ublk_desc_map_offset(q->qid, page));
	if (p == MAP_FAILED)
		return -errno;
	q->descs = p;
	ret = pthread_create(&q->thread, NULL, ublk_queue_main, q);
	if (ret)
		return -ret;
	q->thread_started = true;
	return 0;
}

void ublk_queue_join(struct ublk_queue *q)
{
	if (q->thread_started)
		pthread_join(q->thread, NULL);
	q->thread_started = false;
	if (q->descs)
		munmap((void *)q->descs, q->descs_len);
	q->descs = NULL;
	if (q->bufs)
		munmap(q->bufs, q->bufs_len);
	q->bufs = NULL;
	free(q->tags);
	q->tags = NULL;
}
