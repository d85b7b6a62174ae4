/* A volume in memory for fuzz_nbd_stream: the contract of
 * include/cryptblk/volume.h, with every request the server submits checked
 * against it (sector aligned, inside the export, a length except for flush,
 * no writing to a read-only volume); a breach aborts.
 *
 * A header with definitions, included by that one target only: it defines
 * the volume_* functions the server calls, in place of the real pipeline
 * (which the linker then leaves out of the static library), and a helper_*.c
 * would be linked into every target. Requests complete from a progress
 * function of the worker's loop, never inside volume_submit(). A failing
 * store fails every read, write, zero or trim that starts in a sector whose
 * number is 1 modulo 3 with -EIO, so the server's error paths run too. */
#ifndef CRYPTBLK_FUZZ_NBD_MEMVOLUME_H
#define CRYPTBLK_FUZZ_NBD_MEMVOLUME_H

#include "helper_fuzz.h"

#include <cryptblk/nbd.h>
#include <cryptblk/volume.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct memstore {
	uint8_t *data;
	uint64_t size;
	uint32_t sector;
	bool read_only;
	bool failing;
	atomic_uint inflight; /* submitted, done() not yet run: any thread reads it */
};

struct volume {
	struct memstore *store;
	struct loop *loop;
	struct volume_req *head, *tail; /* submitted, to complete */
	unsigned inflight;
};

static int memvol_run(struct memstore *st, struct volume_req *req)
{
	if (st->failing && req->op != VOLUME_FLUSH && req->offset / st->sector % 3 == 1)
		return -EIO;
	switch (req->op) {
	case VOLUME_READ:
		memcpy(req->buf, st->data + req->offset, req->len);
		break;
	case VOLUME_WRITE:
		memcpy(st->data + req->offset, req->buf, req->len);
		break;
	case VOLUME_ZERO:
		memset(st->data + req->offset, 0, req->len);
		break;
	default: /* flush: nothing cached; trim: advisory */
		break;
	}
	return 0;
}

static unsigned memvol_progress(void *ctx)
{
	struct volume *vol = ctx;
	struct volume_req *req = vol->head;
	unsigned n = 0;

	vol->head = vol->tail = NULL;
	while (req) {
		struct volume_req *next = req->next;

		int res = memvol_run(vol->store, req);

		vol->inflight--;
		atomic_fetch_sub(&vol->store->inflight, 1);
		req->done(req, res);
		req = next;
		n++;
	}
	return n;
}

void volume_submit(struct volume *vol, struct volume_req *req)
{
	const struct memstore *st = vol->store;

	if (req->op > VOLUME_ZERO)
		fuzz_fail("nbd: volume request with op %u", req->op);
	if (req->op != VOLUME_FLUSH &&
	    (!req->len || req->offset % st->sector || req->len % st->sector ||
	     req->offset > st->size || req->len > st->size - req->offset))
		fuzz_fail("nbd: volume request op %u at %llu+%llu breaks the contract "
			  "(sector %u, size %llu)",
			  req->op, (unsigned long long)req->offset, (unsigned long long)req->len,
			  st->sector, (unsigned long long)st->size);
	if (st->read_only && req->op != VOLUME_READ && req->op != VOLUME_FLUSH)
		fuzz_fail("nbd: op %u submitted to a read-only volume", req->op);
	req->vol = vol;
	req->next = NULL;
	if (vol->tail)
		vol->tail->next = req;
	else
		vol->head = req;
	vol->tail = req;
	vol->inflight++;
	atomic_fetch_add(&vol->store->inflight, 1);
}

uint64_t volume_size(const struct volume *vol)
{
	return vol->store->size;
}

uint32_t volume_sector_size(const struct volume *vol)
{
	return vol->store->sector;
}

bool volume_read_only(const struct volume *vol)
{
	return vol->store->read_only;
}

unsigned volume_inflight(const struct volume *vol)
{
	return vol->inflight;
}

static int memvol_open(void *ctx, unsigned index, struct loop *loop, struct volume **out)
{
	struct volume *vol = calloc(1, sizeof(*vol));
	int rc;

	(void)index;
	if (!vol)
		return -ENOMEM;
	vol->store = ctx;
	vol->loop = loop;
	rc = loop_progress_add(loop, memvol_progress, vol);
	if (rc) {
		free(vol);
		return rc;
	}
	*out = vol;
	return 0;
}

static void memvol_close(void *ctx, unsigned index, struct volume *vol)
{
	(void)ctx;
	(void)index;
	if (vol->inflight)
		fuzz_fail("nbd: volume closed with %u requests in flight", vol->inflight);
	loop_progress_remove(vol->loop, memvol_progress, vol);
	free(vol);
}

static const struct nbd_thread_ops memvol_ops = {.open = memvol_open, .close = memvol_close};

#endif
