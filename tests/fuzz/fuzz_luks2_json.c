/* libFuzzer target: the LUKS2 JSON metadata (parser and validator).
 *
 * Input: the JSON text alone. The target wraps it in a primary binary
 * header with a correct SHA-256 checksum (hdr_size 16 KiB, or the smallest
 * allowed size that holds the text), on a 32 MiB device whose other bytes
 * read as zeros, so every mutation reaches the JSON code. */
#include "helper_luks.h"
#include "format/luks2_disk.h"

#include <endian.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define DEV_SIZE (32ull << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *image_build(const uint8_t *json, size_t len, size_t *hdr_size)
{
	struct luks2_hdr_disk *d;
	uint8_t *image;
	size_t s = LUKS2_HDR_SIZE_MIN;

	while (s <= LUKS2_HDR_SIZE_MAX && s - LUKS2_BIN_SIZE <= len)
		s *= 2;
	if (s > LUKS2_HDR_SIZE_MAX)
		return NULL;
	image = calloc(1, s);
	if (!image)
		return NULL;
	d = (struct luks2_hdr_disk *)image;
	memcpy(d->magic, luks2_magic_primary, LUKS2_MAGIC_LEN);
	d->version = htobe16(2);
	d->hdr_size = htobe64(s);
	d->seqid = htobe64(1);
	strcpy(d->csum_alg, "sha256");
	strcpy(d->uuid, "0f0f0f0f-0f0f-4f0f-8f0f-0f0f0f0f0f0f");
	memcpy(image + LUKS2_BIN_SIZE, json, len);
	if (!EVP_Digest(image, s, d->csum, NULL, EVP_sha256(), NULL)) {
		free(image);
		return NULL;
	}
	*hdr_size = s;
	return image;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_image img;
	struct luks_io io;
	size_t hdr_size = 0;
	uint8_t *image = image_build(data, size, &hdr_size);

	if (!image)
		return 0;
	img.data = image;
	img.len = hdr_size;
	fuzz_image_io(&img, DEV_SIZE, &io);
	fuzz_luks_exercise(&io, true);
	free(image);
	return 0;
}
