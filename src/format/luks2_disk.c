/* LUKS2 binary headers and their checksums. */
#include "luks2_disk.h"
#include "err.h"
#include "kdf.h"

#include <endian.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char luks2_magic_primary[LUKS2_MAGIC_LEN] = {'L', 'U', 'K', 'S', '\xba', '\xbe'};
const char luks2_magic_secondary[LUKS2_MAGIC_LEN] = {'S', 'K', 'U', 'L', '\xba', '\xbe'};

bool luks2_hdr_size_allowed(uint64_t size)
{
	for (uint64_t s = LUKS2_HDR_SIZE_MIN; s <= LUKS2_HDR_SIZE_MAX; s *= 2)
		if (size == s)
			return true;
	return false;
}

int luks_disk_probe_version(const uint8_t first[8])
{
	if (memcmp(first, luks2_magic_primary, LUKS2_MAGIC_LEN) != 0)
		return 0;
	return (first[6] << 8) | first[7];
}

static int copy_fail(struct luks2_copy *c, int code, const char *what)
{
	snprintf(c->error, sizeof(c->error), "luks2: %s header at %llu: %s",
		 c->offset == 0 ? "primary" : "secondary", (unsigned long long)c->offset, what);
	c->status = code;
	return code;
}

/* A fixed-size field must hold a terminated string. */
static bool field_string(char *dst, const char *src, size_t len)
{
	size_t n = strnlen(src, len);

	if (n == len)
		return false;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return true;
}

static int bin_decode(struct luks2_copy *c, const struct luks2_hdr_disk *d)
{
	struct luks2_bin *b = &c->bin;

	b->hdr_size = be64toh(d->hdr_size);
	b->seqid = be64toh(d->seqid);
	b->hdr_offset = be64toh(d->hdr_offset);
	memcpy(b->salt, d->salt, sizeof(b->salt));
	if (!field_string(b->label, d->label, sizeof(d->label)))
		return copy_fail(c, -EINVAL, "label not terminated");
	if (!field_string(b->csum_alg, d->csum_alg, sizeof(d->csum_alg)))
		return copy_fail(c, -EINVAL, "csum_alg not terminated");
	if (!field_string(b->uuid, d->uuid, sizeof(d->uuid)))
		return copy_fail(c, -EINVAL, "uuid not terminated");
	if (!field_string(b->subsystem, d->subsystem, sizeof(d->subsystem)))
		return copy_fail(c, -EINVAL, "subsystem not terminated");
	return 0;
}

/* The checksum covers the whole hdr_size area with the csum field zeroed. */
static int csum_compute(const char *alg, uint8_t *area, size_t len, uint8_t out[LUKS2_CSUM_LEN])
{
	const EVP_MD *md = kdf_hash_lookup(alg);
	struct luks2_hdr_disk *d = (struct luks2_hdr_disk *)area;
	uint8_t saved[LUKS2_CSUM_LEN], sum[EVP_MAX_MD_SIZE] = {0};
	unsigned int mdlen = 0;
	int rc = 0;

	if (!md || EVP_MD_get_size(md) > LUKS2_CSUM_LEN)
		return -ENOTSUP;
	memcpy(saved, d->csum, sizeof(saved));
	memset(d->csum, 0, sizeof(d->csum));
	if (!EVP_Digest(area, len, sum, &mdlen, md, NULL))
		rc = -ENOMEM;
	memcpy(d->csum, saved, sizeof(saved));
	memcpy(out, sum, LUKS2_CSUM_LEN);
	return rc;
}

static int copy_check_area(struct luks2_copy *c, uint8_t *area)
{
	const struct luks2_hdr_disk *d = (const void *)area;
	uint8_t csum[LUKS2_CSUM_LEN];
	size_t json_len = c->bin.hdr_size - LUKS2_BIN_SIZE;
	const char *json = (const char *)area + LUKS2_BIN_SIZE;
	size_t text_len;
	int rc;

	rc = csum_compute(c->bin.csum_alg, area, c->bin.hdr_size, csum);
	if (rc == -ENOTSUP)
		return copy_fail(c, -ENOTSUP, "csum_alg unsupported");
	if (rc)
		return copy_fail(c, rc, "checksum could not be computed");
	if (CRYPTO_memcmp(csum, d->csum, sizeof(csum)) != 0)
		return copy_fail(c, -EINVAL, "checksum mismatch");
	text_len = strnlen(json, json_len);
	if (text_len == json_len)
		return copy_fail(c, -EINVAL, "JSON area not terminated");
	c->json = malloc(text_len + 1);
	if (!c->json)
		return copy_fail(c, -ENOMEM, "out of memory");
	memcpy(c->json, json, text_len + 1);
	return 0;
}

int luks2_disk_copy_read(const struct luks_io *io, uint64_t offset, bool primary,
			 struct luks2_copy *c)
{
	struct luks2_hdr_disk d;
	uint8_t *area = NULL;
	int rc;

	memset(c, 0, sizeof(*c));
	c->offset = offset;
	if (offset + LUKS2_BIN_SIZE > io->size)
		return copy_fail(c, -EINVAL, "beyond the end of the device");
	rc = io->read(io->priv, &d, sizeof(d), offset);
	if (rc)
		return copy_fail(c, rc, "read failed");
	if (memcmp(d.magic, primary ? luks2_magic_primary : luks2_magic_secondary,
		   LUKS2_MAGIC_LEN) != 0)
		return copy_fail(c, -EINVAL, "bad magic");
	c->found = true;
	if (be16toh(d.version) != 2)
		return copy_fail(c, -EINVAL, "version not 2");
	rc = bin_decode(c, &d);
	if (rc)
		return rc;
	if (!luks2_hdr_size_allowed(c->bin.hdr_size))
		return copy_fail(c, -EINVAL, "hdr_size not one of 16 KiB..4 MiB powers of two");
	if (c->bin.hdr_offset != offset)
		return copy_fail(c, -EINVAL, "hdr_offset does not match the copy's position");
	if (offset + c->bin.hdr_size > io->size)
		return copy_fail(c, -EINVAL, "hdr_size reaches past the end of the device");
	area = malloc(c->bin.hdr_size);
	if (!area)
		return copy_fail(c, -ENOMEM, "out of memory");
	rc = io->read(io->priv, area, c->bin.hdr_size, offset);
	if (rc)
		rc = copy_fail(c, rc, "read failed");
	else
		rc = copy_check_area(c, area);
	free(area);
	return rc;
}

void luks2_disk_copies_read(const struct luks_io *io, struct luks2_copy copies[2])
{
	luks2_disk_copy_read(io, 0, true, &copies[0]);
	if (copies[0].status == 0) {
		luks2_disk_copy_read(io, copies[0].bin.hdr_size, false, &copies[1]);
		return;
	}
	/* Without a readable primary, the secondary may sit at any allowed
	 * offset; take the first one whose magic is there. */
	for (uint64_t off = LUKS2_HDR_SIZE_MIN; off <= LUKS2_HDR_SIZE_MAX; off *= 2) {
		luks2_copy_release(&copies[1]);
		luks2_disk_copy_read(io, off, false, &copies[1]);
		if (copies[1].found)
			return;
	}
	copies[1].offset = 0;
	snprintf(copies[1].error, sizeof(copies[1].error), "luks2: no secondary header found");
}

void luks2_copy_release(struct luks2_copy *c)
{
	free(c->json);
	c->json = NULL;
}

static void field_put(char *dst, size_t len, const char *src)
{
	memset(dst, 0, len);
	memcpy(dst, src, strnlen(src, len - 1));
}

int luks2_disk_copy_write(const struct luks_io *io, const struct luks2_bin *bin, bool primary,
			  const char *json, struct luks_err *err)
{
	size_t json_len = strlen(json);
	struct luks2_hdr_disk *d;
	uint8_t *area;
	int rc;

	if (!luks2_hdr_size_allowed(bin->hdr_size) || json_len >= bin->hdr_size - LUKS2_BIN_SIZE)
		return luks_err_set(err, -E2BIG, "luks2: JSON metadata of %zu bytes over the area",
				    json_len);
	area = calloc(1, bin->hdr_size);
	if (!area)
		return luks_err_set(err, -ENOMEM, "luks2: out of memory");
	d = (struct luks2_hdr_disk *)area;
	memcpy(d->magic, primary ? luks2_magic_primary : luks2_magic_secondary, LUKS2_MAGIC_LEN);
	d->version = htobe16(2);
	d->hdr_size = htobe64(bin->hdr_size);
	d->seqid = htobe64(bin->seqid);
	d->hdr_offset = htobe64(bin->hdr_offset);
	field_put(d->label, sizeof(d->label), bin->label);
	field_put(d->csum_alg, sizeof(d->csum_alg), bin->csum_alg);
	field_put(d->uuid, sizeof(d->uuid), bin->uuid);
	field_put(d->subsystem, sizeof(d->subsystem), bin->subsystem);
	memcpy(d->salt, bin->salt, sizeof(d->salt));
	memcpy(area + LUKS2_BIN_SIZE, json, json_len);
	rc = csum_compute(bin->csum_alg, area, bin->hdr_size, d->csum);
	if (rc) {
		luks_err_set(err, rc, "luks2: header checksum %s unsupported", bin->csum_alg);
		goto out;
	}
	rc = io->write(io->priv, area, bin->hdr_size, bin->hdr_offset);
	if (rc == 0 && io->sync)
		rc = io->sync(io->priv);
	if (rc)
		luks_err_set(err, rc, "luks2: writing the header at %llu failed",
			     (unsigned long long)bin->hdr_offset);
out:
	free(area);
	return rc;
}
