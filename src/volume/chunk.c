/* One chunk of a request: at most VOLUME_CHUNK_MAX bytes with its own crypto
 * job and backend I/O. Every path ends in volume_chunk_finish(), which frees
 * the bounce buffer only once nothing points into it any more. */
#include "volume_priv.h"

#include <errno.h>
#include <stdlib.h>

static struct volume_chunk *volume_chunk_get(struct volume *vol)
{
	struct volume_chunk *chunk = vol->free_chunks;

	if (chunk)
		vol->free_chunks = chunk->next_free;
	else
		chunk = malloc(sizeof(*chunk));
	return chunk;
}

static void volume_chunk_put(struct volume *vol, struct volume_chunk *chunk)
{
	chunk->next_free = vol->free_chunks;
	vol->free_chunks = chunk;
}

void volume_chunks_free(struct volume *vol)
{
	while (vol->free_chunks) {
		struct volume_chunk *chunk = vol->free_chunks;

		vol->free_chunks = chunk->next_free;
		free(chunk);
	}
}

static bool volume_chunk_kind_has_data(enum volume_chunk_kind kind)
{
	return kind == VOLUME_CHUNK_READ || kind == VOLUME_CHUNK_WRITE;
}

bool volume_chunk_fits(const struct volume *vol, const struct volume_req *req)
{
	uint64_t len;

	if (vol->chunks_inflight >= VOLUME_CHUNKS_INFLIGHT_MAX)
		return false;
	if (vol->bytes_inflight == 0 || req->op == VOLUME_FLUSH || volume_req_punches(vol, req))
		return true;
	len = volume_chunk_len(vol, req);
	return vol->bytes_inflight + len <= VOLUME_BYTES_INFLIGHT_MAX;
}

static void volume_chunk_finish(struct volume_chunk *chunk, int res)
{
	struct volume *vol = chunk->vol;
	struct volume_req *req = chunk->req;
	bool fua_flush = chunk->kind == VOLUME_CHUNK_FUA_FLUSH;

	if (res < 0 && req->error == 0)
		req->error = res;
	if (chunk->bounce)
		volume_bounce_put(vol, chunk->bounce, chunk->len);
	if (volume_chunk_kind_has_data(chunk->kind))
		vol->bytes_inflight -= chunk->len;
	volume_chunk_put(vol, chunk);
	vol->chunks_inflight--;
	req->chunks_left--;
	/* A request still in the queue has chunks to issue; the queue settles
	 * it when it leaves. */
	if (req->chunks_left > 0 || req->cursor != VOLUME_REQ_ISSUED)
		return;
	if (fua_flush)
		volume_req_complete(req);
	else
		volume_req_settle(req);
}

static void volume_chunk_io_done(struct backend_io *io, int res)
{
	volume_chunk_finish(io->priv, res);
}

static void volume_chunk_job_done(struct crypto_job *job)
{
	volume_chunk_finish(job->priv, job->result);
}

static void volume_chunk_backend_submit(struct volume_chunk *chunk, uint8_t op, void *buf,
					backend_done_fn done)
{
	struct volume *vol = chunk->vol;

	chunk->io = (struct backend_io){
	    .op = op,
	    .buf = buf,
	    .len = op == BACKEND_FLUSH ? 0 : chunk->len,
	    .offset = op == BACKEND_FLUSH ? 0 : vol->layout.data_offset + chunk->offset,
	    .done = done,
	    .priv = chunk,
	};
	backend_submit(vol->be, vol->loop, &chunk->io);
}

static void volume_chunk_crypto_submit(struct volume_chunk *chunk, const uint8_t *src, uint8_t *dst,
				       enum crypto_dir dir, crypto_done_fn done)
{
	const struct volume_layout *layout = &chunk->vol->layout;
	int err;

	chunk->job = (struct crypto_job){
	    .src = src,
	    .dst = dst,
	    .iv = volume_layout_iv(layout, chunk->offset),
	    .sector_size = layout->sector_size,
	    .nr_sectors = chunk->len / layout->sector_size,
	    .key_slot = layout->key_slot,
	    .dir = (uint8_t)dir,
	    .flags = layout->iv_large_sectors ? CRYPTO_JOB_IV_LARGE_SECTORS : 0,
	    .done = done,
	    .priv = chunk,
	};
	err = crypto_submit(chunk->vol->engine, &chunk->job);
	if (err)
		volume_chunk_finish(chunk, err);
}

/* READ: the ciphertext lands in the caller's buffer and is decrypted there. */
static void volume_chunk_read_done(struct backend_io *io, int res)
{
	struct volume_chunk *chunk = io->priv;
	uint8_t *buf = io->buf;

	if (res < 0) {
		volume_chunk_finish(chunk, res);
		return;
	}
	volume_chunk_crypto_submit(chunk, buf, buf, CRYPTO_DECRYPT, volume_chunk_job_done);
}

/* WRITE and ZERO: the ciphertext is in the bounce buffer; write it out. */
static void volume_chunk_encrypted(struct crypto_job *job)
{
	struct volume_chunk *chunk = job->priv;

	if (job->result < 0) {
		volume_chunk_finish(chunk, job->result);
		return;
	}
	volume_chunk_backend_submit(chunk, BACKEND_WRITE, job->dst, volume_chunk_io_done);
}

static void volume_chunk_write_start(struct volume_chunk *chunk, const uint8_t *plain)
{
	const struct volume_req *req = chunk->req;

	if (req->op == VOLUME_WRITE && (req->flags & VOLUME_F_CLOBBER)) {
		/* The caller gave its buffer away: encrypt it in place. */
		uint8_t *buf = (uint8_t *)req->buf + (plain - (const uint8_t *)req->buf);

		volume_chunk_crypto_submit(chunk, buf, buf, CRYPTO_ENCRYPT, volume_chunk_encrypted);
		return;
	}
	chunk->bounce = volume_bounce_get(chunk->vol, chunk->len);
	if (!chunk->bounce) {
		volume_chunk_finish(chunk, -ENOMEM);
		return;
	}
	volume_chunk_crypto_submit(chunk, plain, chunk->bounce, CRYPTO_ENCRYPT,
				   volume_chunk_encrypted);
}

static struct volume_chunk *volume_chunk_start(struct volume *vol, struct volume_req *req,
					       enum volume_chunk_kind kind, uint32_t len)
{
	struct volume_chunk *chunk = volume_chunk_get(vol);

	if (!chunk) {
		if (req->error == 0)
			req->error = -ENOMEM;
		return NULL;
	}
	*chunk = (struct volume_chunk){
	    .vol = vol,
	    .req = req,
	    .kind = (uint8_t)kind,
	    .offset = req->offset + (req->op == VOLUME_FLUSH ? 0 : req->cursor),
	    .len = len,
	};
	vol->chunks_inflight++;
	if (volume_chunk_kind_has_data(kind))
		vol->bytes_inflight += len;
	req->chunks_left++;
	return chunk;
}

void volume_chunk_issue(struct volume *vol, struct volume_req *req)
{
	struct volume_chunk *chunk;
	uint64_t pos = req->cursor;
	uint32_t len;

	if (req->op == VOLUME_FLUSH) {
		req->cursor = 1;
		chunk = volume_chunk_start(vol, req, VOLUME_CHUNK_FLUSH, 0);
		if (chunk)
			volume_chunk_backend_submit(chunk, BACKEND_FLUSH, NULL,
						    volume_chunk_io_done);
		return;
	}
	len = volume_chunk_len(vol, req);
	if (volume_req_punches(vol, req)) {
		chunk = volume_chunk_start(vol, req, VOLUME_CHUNK_PUNCH, len);
		req->cursor += len;
		if (chunk)
			volume_chunk_backend_submit(chunk, BACKEND_DISCARD, NULL,
						    volume_chunk_io_done);
		return;
	}
	chunk = volume_chunk_start(
	    vol, req, req->op == VOLUME_READ ? VOLUME_CHUNK_READ : VOLUME_CHUNK_WRITE, len);
	req->cursor += len;
	if (!chunk)
		return;
	if (req->op == VOLUME_READ)
		volume_chunk_backend_submit(chunk, BACKEND_READ, (uint8_t *)req->buf + pos,
					    volume_chunk_read_done);
	else if (req->op == VOLUME_WRITE)
		volume_chunk_write_start(chunk, (const uint8_t *)req->buf + pos);
	else
		volume_chunk_write_start(chunk, vol->zeros);
}

void volume_chunk_issue_fua(struct volume *vol, struct volume_req *req)
{
	struct volume_chunk *chunk = volume_chunk_start(vol, req, VOLUME_CHUNK_FUA_FLUSH, 0);

	if (!chunk) {
		volume_req_complete(req);
		return;
	}
	volume_chunk_backend_submit(chunk, BACKEND_FLUSH, NULL, volume_chunk_io_done);
}
