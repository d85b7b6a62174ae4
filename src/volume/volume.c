/* The volume: its queue of requests and their lifecycle.
 *
 * volume_submit() only validates and queues; the volume's progress function
 * (run by the loop after every CQE batch) cuts queued requests into chunks,
 * up to VOLUME_CHUNKS_INFLIGHT_MAX (and VOLUME_BYTES_INFLIGHT_MAX) at once, and completes requests
 * that need no I/O. So done() never runs inside volume_submit(), and a request that arrives while
 * the pipeline is full simply waits its turn. */
#include "volume_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void volume_req_complete(struct volume_req *req)
{
	struct volume *vol = req->vol;

	vol->reqs_inflight--;
	/* The caller may reuse or free req from here on. */
	req->done(req, req->error);
}

static bool volume_req_wants_fua(const struct volume *vol, const struct volume_req *req)
{
	if (!(req->flags & VOLUME_F_FUA) || req->error)
		return false;
	if (req->op == VOLUME_TRIM)
		return volume_req_punches(vol, req);
	return req->op == VOLUME_WRITE || req->op == VOLUME_ZERO;
}

/* Every chunk of the data has finished: a FUA request still needs its data
 * made durable, every other request is done. */
void volume_req_settle(struct volume_req *req)
{
	struct volume *vol = req->vol;

	if (volume_req_wants_fua(vol, req))
		volume_chunk_issue_fua(vol, req);
	else
		volume_req_complete(req);
}

static void volume_queue_push(struct volume *vol, struct volume_req *req)
{
	req->next = NULL;
	if (vol->queue_tail)
		vol->queue_tail->next = req;
	else
		vol->queue_head = req;
	vol->queue_tail = req;
}

static void volume_queue_pop(struct volume *vol)
{
	struct volume_req *req = vol->queue_head;

	vol->queue_head = req->next;
	if (!vol->queue_head)
		vol->queue_tail = NULL;
	req->next = NULL;
}

static unsigned volume_progress(void *ctx)
{
	struct volume *vol = ctx;
	unsigned moved = 0;

	while (vol->queue_head) {
		struct volume_req *req = vol->queue_head;

		if (req->error == 0 && req->cursor < volume_req_issue_len(vol, req)) {
			if (!volume_chunk_fits(vol, req))
				break;
			volume_chunk_issue(vol, req);
			moved++;
			continue;
		}
		/* Every chunk issued, or an error stops the rest. */
		volume_queue_pop(vol);
		req->cursor = VOLUME_REQ_ISSUED;
		moved++;
		if (req->chunks_left == 0)
			volume_req_settle(req);
	}
	return moved;
}

void volume_submit(struct volume *vol, struct volume_req *req)
{
	req->vol = vol;
	req->chunks_left = 0;
	req->cursor = 0;
	req->error = volume_req_check(&vol->layout, vol->be->read_only, req);
	vol->reqs_inflight++;
	volume_queue_push(vol, req);
}

int volume_open(struct backend *be, struct crypto_engine *engine, struct loop *loop,
		const struct volume_layout *layout, struct volume **out)
{
	struct volume *vol = NULL;
	int err;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!be || !engine || !loop || !layout)
		return -EINVAL;
	err = volume_layout_check(layout, be);
	if (err)
		return err;
	vol = calloc(1, sizeof(*vol));
	if (!vol)
		return -ENOMEM;
	vol->be = be;
	vol->engine = engine;
	vol->loop = loop;
	vol->layout = *layout;
	vol->zeros = crypto_buf_alloc(engine, VOLUME_CHUNK_MAX);
	if (!vol->zeros) {
		err = -ENOMEM;
		goto out;
	}
	memset(vol->zeros, 0, VOLUME_CHUNK_MAX);
	err = loop_progress_add(loop, volume_progress, vol);
out:
	if (err) {
		if (vol->zeros)
			crypto_buf_free(engine, vol->zeros, VOLUME_CHUNK_MAX);
		free(vol);
		return err;
	}
	*out = vol;
	return 0;
}

void volume_close(struct volume *vol)
{
	if (!vol)
		return;
	/* The caller drained the volume (volume_inflight() == 0): no chunk
	 * points at it any more. */
	loop_progress_remove(vol->loop, volume_progress, vol);
	volume_chunks_free(vol);
	volume_bounce_fini(vol);
	crypto_buf_free(vol->engine, vol->zeros, VOLUME_CHUNK_MAX);
	free(vol);
}

uint64_t volume_size(const struct volume *vol)
{
	return vol->layout.size;
}

uint32_t volume_sector_size(const struct volume *vol)
{
	return vol->layout.sector_size;
}

bool volume_read_only(const struct volume *vol)
{
	return vol->be->read_only;
}

unsigned volume_inflight(const struct volume *vol)
{
	return vol->reqs_inflight;
}
