/* libFuzzer target: the LUKS2 binary header pair (magic, version, sizes,
 * offsets, checksums, the choice between the copies by seqid).
 *
 * Input: one control byte, then the first bytes of the image; the rest of
 * the device reads as zeros. The control byte picks the device size
 * (FUZZ_CTL_SIZE_MASK) and can ask for the checksums to be made right after
 * the mutation, so changes to seqid, hdr_size or the JSON text get past the
 * checksum test. No passphrase is tried: one attempt costs as much as a few
 * hundred parses, and fuzz_luks2_json covers it. */
#include "helper_luks.h"
#include "format/luks2_disk.h"

#include <endian.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define CTL_FIX_PRIMARY	  0x08 /* recompute the checksum of the copy at 0 */
#define CTL_FIX_SECONDARY 0x10 /* ... of every secondary copy in the image */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Recompute the checksum of the copy at `off` as its own fields describe
 * it, when the whole copy lies in the image and names a known hash. */
static void csum_fix(uint8_t *image, size_t len, size_t off)
{
	struct luks2_hdr_disk *d = (struct luks2_hdr_disk *)(image + off);
	char alg[LUKS2_CSUM_ALG_LEN + 1];
	uint8_t sum[EVP_MAX_MD_SIZE];
	unsigned int sum_len = 0;
	uint64_t hdr_size;
	const EVP_MD *md;

	if (off > len || len - off < LUKS2_BIN_SIZE)
		return;
	hdr_size = be64toh(d->hdr_size);
	memcpy(alg, d->csum_alg, LUKS2_CSUM_ALG_LEN);
	alg[LUKS2_CSUM_ALG_LEN] = '\0';
	md = EVP_get_digestbyname(alg);
	if (!md || EVP_MD_get_size(md) > LUKS2_CSUM_LEN || hdr_size < LUKS2_BIN_SIZE ||
	    hdr_size > len - off)
		return;
	memset(d->csum, 0, sizeof(d->csum));
	if (EVP_Digest(image + off, hdr_size, sum, &sum_len, md, NULL))
		memcpy(d->csum, sum, sum_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_image img;
	struct luks_io io;
	uint8_t *image;
	size_t len;

	if (size < 1)
		return 0;
	len = size - 1;
	image = malloc(len ? len : 1);
	if (!image)
		return 0;
	memcpy(image, data + 1, len);
	if (data[0] & CTL_FIX_PRIMARY)
		csum_fix(image, len, 0);
	if (data[0] & CTL_FIX_SECONDARY)
		for (size_t off = LUKS2_HDR_SIZE_MIN; off <= LUKS2_HDR_SIZE_MAX && off < len;
		     off *= 2)
			if (len - off >= LUKS2_MAGIC_LEN &&
			    !memcmp(image + off, luks2_magic_secondary, LUKS2_MAGIC_LEN))
				csum_fix(image, len, off);
	img.data = image;
	img.len = len;
	fuzz_image_io(&img, fuzz_dev_size(data[0] & FUZZ_CTL_SIZE_MASK, len), &io);
	fuzz_luks_exercise(&io, false);
	free(image);
	return 0;
}
