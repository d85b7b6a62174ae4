/* Shared by the LUKS fuzz targets: an image in memory behind a luks_io, and
 * the path every target runs over it (load, layout, describe, and a
 * passphrase attempt when the header's KDF costs are tiny), with the
 * properties a loaded header must have checked on the way. */
#ifndef CRYPTBLK_FUZZ_HELPER_LUKS_H
#define CRYPTBLK_FUZZ_HELPER_LUKS_H

#include "helper_fuzz.h"

#include <cryptblk/luks.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bits of the control byte that leads the image targets' inputs. */
#define FUZZ_CTL_SIZE_MASK 0x07 /* index into fuzz_dev_size()'s table */
#define FUZZ_CTL_UNLOCK	   0x80 /* luks1: try the passphrase when costs allow */

/* The passphrase the seed images were made with. */
#define FUZZ_PASSPHRASE "fuzz"

/* Storage of `size` bytes whose first `len` are `data`; the rest reads as
 * zeros, so large devices cost no memory. Read-only. */
struct fuzz_image {
	const uint8_t *data;
	size_t len;
};
void fuzz_image_io(struct fuzz_image *img, uint64_t size, struct luks_io *io);

/* A device size picked by `choice` (FUZZ_CTL_SIZE_MASK bits): the image's
 * own length, or sizes around the usual metadata and data offsets, or huge
 * ones for the arithmetic. */
uint64_t fuzz_dev_size(unsigned choice, size_t len);

/* Load the metadata; when it validates, check layout and describe against
 * the invariants below, and with `unlock` try FUZZ_PASSPHRASE if every KDF
 * and digest cost is within the fuzzing caps. A broken invariant aborts. */
void fuzz_luks_exercise(const struct luks_io *io, bool unlock);

#endif
