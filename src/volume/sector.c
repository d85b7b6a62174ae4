/* The sector math of the pipeline, in one place: IVs, alignment and range
 * checks, and how requests are cut into chunks. */
#include "volume_priv.h"

#include <errno.h>

uint64_t volume_layout_iv(const struct volume_layout *layout, uint64_t offset)
{
	/* plain64 counts 512-byte units from the start of the data segment,
	 * whatever the sector size (dm-crypt for LUKS); iv_large_sectors
	 * counts whole sectors instead. */
	if (layout->iv_large_sectors)
		return offset / layout->sector_size + layout->iv_tweak;
	return offset / 512 + layout->iv_tweak;
}

static bool volume_sector_size_valid(uint32_t sector_size)
{
	return sector_size == 512 || sector_size == 1024 || sector_size == 2048 ||
	       sector_size == 4096;
}

int volume_layout_check(const struct volume_layout *layout, const struct backend *be)
{
	if (!volume_sector_size_valid(layout->sector_size))
		return -EINVAL;
	if (layout->size % layout->sector_size != 0)
		return -EINVAL;
	if (layout->key_slot >= CRYPTO_KEY_SLOTS)
		return -EINVAL;
	if (layout->data_offset > be->size || layout->size > be->size - layout->data_offset)
		return -EINVAL;
	return 0;
}

static bool volume_op_modifies(uint8_t op)
{
	return op == VOLUME_WRITE || op == VOLUME_ZERO || op == VOLUME_TRIM;
}

int volume_req_check(const struct volume_layout *layout, bool read_only,
		     const struct volume_req *req)
{
	bool grows = req->op == VOLUME_WRITE || req->op == VOLUME_ZERO;

	if (req->op > VOLUME_ZERO)
		return -EINVAL;
	if (volume_op_modifies(req->op) && read_only)
		return -EPERM;
	if (req->op == VOLUME_FLUSH)
		return 0;
	if ((req->op == VOLUME_READ || req->op == VOLUME_WRITE) && !req->buf)
		return -EINVAL;
	if (req->len == 0 || req->offset % layout->sector_size != 0 ||
	    req->len % layout->sector_size != 0)
		return -EINVAL;
	if (req->offset > layout->size || req->len > layout->size - req->offset)
		return grows ? -ENOSPC : -EINVAL;
	return 0;
}

bool volume_req_punches(const struct volume *vol, const struct volume_req *req)
{
	if (!vol->be->can_discard)
		return false;
	if (req->op == VOLUME_TRIM)
		return vol->layout.allow_discards;
	return req->op == VOLUME_ZERO && (req->flags & VOLUME_F_MAY_PUNCH);
}

/* How far req->cursor runs before every chunk of the request is issued: the
 * byte length, one unit for a flush, nothing for a trim that only advises. */
uint64_t volume_req_issue_len(const struct volume *vol, const struct volume_req *req)
{
	if (req->op == VOLUME_FLUSH)
		return 1;
	if (req->op == VOLUME_TRIM && !volume_req_punches(vol, req))
		return 0;
	return req->len;
}

uint32_t volume_chunk_len(const struct volume *vol, const struct volume_req *req)
{
	uint64_t left = req->len - req->cursor;
	uint64_t max = volume_req_punches(vol, req) ? VOLUME_PUNCH_CHUNK_MAX : VOLUME_CHUNK_MAX;

	/* Both limits are multiples of every sector size. */
	return (uint32_t)(left < max ? left : max);
}
