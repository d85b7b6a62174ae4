/* libFuzzer target: the LUKS1 header (phdr and keyslot table).
 *
 * Input: one control byte (helper_luks.h: device size, passphrase attempt),
 * then the first bytes of the image; the rest of the device reads as zeros. */
#include "helper_luks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_image img;
	struct luks_io io;

	if (size < 1)
		return 0;
	img.data = data + 1;
	img.len = size - 1;
	fuzz_image_io(&img, fuzz_dev_size(data[0] & FUZZ_CTL_SIZE_MASK, img.len), &io);
	fuzz_luks_exercise(&io, data[0] & FUZZ_CTL_UNLOCK);
	return 0;
}
