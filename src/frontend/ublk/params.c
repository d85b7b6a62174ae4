/* What SET_PARAMS tells the kernel about the device, derived from the
 * volume's geometry. The kernel checks: 9 <= logical shift <= PAGE_SHIFT,
 * logical <= physical, max_sectors <= max_io_buf_bytes / 512, and for the
 * discard parameter a non-zero granularity and one segment. */
#include "ublk_int.h"

#include <errno.h>
#include <string.h>

/* Discards carry no data and a hole punch is cheap: let the kernel send
 * large ones. */
#define UBLK_MAX_DISCARD_BYTES (64u << 20)

static int ublk_log2(uint32_t v)
{
	int n = 0;

	if (v == 0 || (v & (v - 1)))
		return -1;
	while (v >>= 1)
		n++;
	return n;
}

int ublk_params_build(const struct ublk_params_in *in, struct ublk_params *out)
{
	int bs_shift = ublk_log2(in->sector_size);
	int opt_shift = ublk_log2(VOLUME_CHUNK_MAX);
	struct ublk_param_basic *b = &out->basic;
	struct ublk_param_discard *d = &out->discard;

	if (bs_shift < 9 || bs_shift > 12 || in->size % in->sector_size ||
	    in->max_io < in->sector_size || in->max_io % in->sector_size)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->len = sizeof(*out);
	out->types = UBLK_PARAM_TYPE_BASIC | UBLK_PARAM_TYPE_DISCARD;

	/* The volume has a page cache under it (the backend file): FLUSH and
	 * FUA both reach fdatasync through the volume. */
	b->attrs = UBLK_ATTR_VOLATILE_CACHE | UBLK_ATTR_FUA;
	if (in->read_only)
		b->attrs |= UBLK_ATTR_READ_ONLY;
	b->logical_bs_shift = (uint8_t)bs_shift;
	b->physical_bs_shift = (uint8_t)bs_shift;
	b->io_min_shift = (uint8_t)bs_shift;
	/* One crypto job and one backend I/O per VOLUME_CHUNK_MAX bytes. */
	b->io_opt_shift = (uint8_t)(opt_shift > bs_shift ? opt_shift : bs_shift);
	b->max_sectors = in->max_io >> 9;
	b->dev_sectors = in->size >> 9;

	/* Sent even without discards: max_write_zeroes_sectors lives here. */
	d->discard_granularity = in->sector_size;
	if (!in->read_only)
		d->max_write_zeroes_sectors = in->max_io >> 9;
	if (in->discard && !in->read_only) {
		d->max_discard_sectors = UBLK_MAX_DISCARD_BYTES >> 9;
		d->max_discard_segments = 1;
	}
	return 0;
}
