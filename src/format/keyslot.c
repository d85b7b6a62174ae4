/* Keyslot material: derive, (de)crypt, split and merge. */
#include "keyslot.h"
#include "af.h"
#include "area.h"
#include "err.h"

#include <cryptblk/secmem.h>
#include <errno.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

size_t keyslot_material_size(const struct keyslot_geom *g)
{
	return area_sectors_bytes(af_split_size(g->key_len, g->stripes));
}

int keyslot_material_open(const struct luks_io *io, const struct keyslot_geom *g, const void *pass,
			  size_t pass_len, uint8_t *key)
{
	size_t len = keyslot_material_size(g);
	uint8_t *derived = secmem_alloc(g->area_key_len);
	uint8_t *material = secmem_alloc(len);
	int rc;

	if (!derived || !material) {
		rc = -ENOMEM;
		goto out;
	}
	rc = kdf_derive(g->kdf, pass, pass_len, derived, g->area_key_len);
	if (rc)
		goto out;
	rc = io->read(io->priv, material, len, g->offset);
	if (rc)
		goto out;
	rc = area_crypt(g->cipher, derived, g->area_key_len, material, len, false);
	if (rc)
		goto out;
	rc = af_merge(material, g->key_len, g->stripes, g->af_hash, key);
out:
	secmem_free(derived, g->area_key_len);
	secmem_free(material, len);
	return rc;
}

int keyslot_material_store(const struct luks_io *io, const struct keyslot_geom *g, const void *pass,
			   size_t pass_len, const uint8_t *key, struct luks_err *err)
{
	size_t len = keyslot_material_size(g);
	uint8_t *derived = secmem_alloc(g->area_key_len);
	uint8_t *material = secmem_alloc(len);
	int rc;

	if (!derived || !material) {
		rc = luks_err_set(err, -ENOMEM, "keyslot: out of locked memory");
		goto out;
	}
	rc = kdf_derive(g->kdf, pass, pass_len, derived, g->area_key_len);
	if (rc) {
		luks_err_set(err, rc, "keyslot: %s failed", kdf_type_name(g->kdf->type));
		goto out;
	}
	rc = af_split(key, g->key_len, g->stripes, g->af_hash, material);
	if (rc == 0)
		rc = area_crypt(g->cipher, derived, g->area_key_len, material, len, true);
	if (rc) {
		luks_err_set(err, rc, "keyslot: sealing the key material failed");
		goto out;
	}
	rc = io->write(io->priv, material, len, g->offset);
	if (rc == 0)
		rc = io->sync(io->priv);
	if (rc)
		luks_err_set(err, rc, "keyslot: writing the key material at %llu failed",
			     (unsigned long long)g->offset);
out:
	secmem_free(derived, g->area_key_len);
	secmem_free(material, len);
	return rc;
}

int keyslot_area_wipe(const struct luks_io *io, uint64_t offset, uint64_t len, struct luks_err *err)
{
	const size_t chunk = 64 * 1024;
	uint8_t *buf = malloc(chunk);
	int rc = 0;

	if (!buf)
		return luks_err_set(err, -ENOMEM, "keyslot: out of memory");
	while (len > 0 && rc == 0) {
		size_t n = len < chunk ? (size_t)len : chunk;

		if (RAND_bytes(buf, (int)n) != 1)
			rc = -EIO;
		else
			rc = io->write(io->priv, buf, n, offset);
		offset += n;
		len -= n;
	}
	if (rc == 0)
		rc = io->sync(io->priv);
	if (rc)
		luks_err_set(err, rc, "keyslot: wiping the key material failed");
	free(buf);
	return rc;
}
