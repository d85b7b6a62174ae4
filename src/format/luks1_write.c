/* LUKS1 writes: format, add and remove a keyslot. There is one header copy,
 * so the order matters even more than for LUKS2: new material is synced
 * before the header that activates it; a removed slot is deactivated in the
 * header before its material is wiped. */
#include "luks1_meta.h"
#include "area.h"
#include "err.h"
#include "uuid.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t round_up32(uint32_t v, uint32_t align)
{
	return (v + align - 1) / align * align;
}

static int phdr_write(const struct luks_io *io, const struct luks1_phdr *h, struct luks_err *err)
{
	struct luks1_phdr_disk d;
	int rc;

	luks1_phdr_encode(h, &d);
	rc = io->write(io->priv, &d, sizeof(d), 0);
	if (rc == 0)
		rc = io->sync(io->priv);
	if (rc)
		return luks_err_set(err, rc, "luks1: writing the header failed");
	return 0;
}

static int zero_fill(const struct luks_io *io, uint64_t len, struct luks_err *err)
{
	const size_t chunk = 1 << 20;
	uint8_t *zero = calloc(1, chunk);
	int rc = 0;

	if (!zero)
		return luks_err_set(err, -ENOMEM, "luks1: out of memory");
	for (uint64_t off = 0; off < len && rc == 0; off += chunk)
		rc = io->write(io->priv, zero, len - off < chunk ? len - off : chunk, off);
	free(zero);
	if (rc)
		return luks_err_set(err, rc, "luks1: wiping the header area failed");
	return 0;
}

/* A slot's material with a fresh pbkdf2 salt and cost, key sealed in it. */
static int slot_seal(const struct luks_io *io, struct luks1_hdr *hdr, int slot,
		     const struct luks_kdf_choice *choice, const void *pass, size_t pass_len,
		     const struct luks_key *key, struct luks_err *err)
{
	struct luks1_keyslot *k = &hdr->phdr.keyslots[slot];
	struct kdf_params kdf;
	struct keyslot_geom g;
	int rc = kdf_params_choose(&kdf, choice, true, key->len, err);

	if (rc)
		return rc;
	k->iterations = kdf.iterations;
	memcpy(k->salt, kdf.salt, LUKS1_SALT_LEN);
	k->stripes = LUKS1_STRIPES;
	luks1_keyslot_geom(hdr, slot, &kdf, &g);
	return keyslot_material_store(io, &g, pass, pass_len, key->bytes, err);
}

static int format_layout(const struct luks_io *io, const struct luks_format_params *p,
			 struct luks1_phdr *h, struct luks_err *err)
{
	uint32_t stride =
	    round_up32(luks1_material_sectors(p->key_size, LUKS1_STRIPES), LUKS1_ALIGN_SECTORS);

	if (!io->write)
		return luks_err_set(err, -EROFS, "luks1: storage is read-only");
	if (strcmp(p->cipher, "aes-xts-plain64") != 0 || area_cipher_check(p->cipher, p->key_size))
		return luks_err_set(err, -ENOTSUP, "luks1: cipher %s with a %u-bit key unsupported",
				    p->cipher, p->key_size * 8);
	if (p->sector_size && p->sector_size != AREA_SECTOR)
		return luks_err_set(err, -EINVAL, "luks1: sector size is always 512");
	if (p->label && p->label[0])
		return luks_err_set(err, -EINVAL, "luks1: no label in LUKS1 headers");
	h->version = 1;
	snprintf(h->cipher_name, sizeof(h->cipher_name), "aes");
	snprintf(h->cipher_mode, sizeof(h->cipher_mode), "xts-plain64");
	snprintf(h->hash_spec, sizeof(h->hash_spec), "sha256");
	h->key_bytes = p->key_size;
	for (int i = 0; i < LUKS1_KEYSLOTS; i++) {
		h->keyslots[i].active = LUKS1_SLOT_INACTIVE;
		h->keyslots[i].material_offset = LUKS1_ALIGN_SECTORS + (uint32_t)i * stride;
		h->keyslots[i].stripes = LUKS1_STRIPES;
	}
	h->payload_offset =
	    round_up32(LUKS1_ALIGN_SECTORS + LUKS1_KEYSLOTS * stride, LUKS1_PAYLOAD_ALIGN);
	if (io->size <= (uint64_t)h->payload_offset * AREA_SECTOR || io->size % AREA_SECTOR)
		return luks_err_set(err, -EINVAL,
				    "luks1: device of %" PRIu64 " bytes too small or not whole "
				    "sectors: data starts at %u",
				    io->size, h->payload_offset * AREA_SECTOR);
	return 0;
}

static int mk_digest_make(struct luks1_phdr *h, const struct luks_key *key, bool forced,
			  struct luks_err *err)
{
	struct kdf_params p = {.type = KDF_PBKDF2, .hash = "sha256", .salt_len = LUKS1_SALT_LEN};
	int rc;

	if (RAND_bytes(h->mk_digest_salt, LUKS1_SALT_LEN) != 1)
		return luks_err_set(err, -EIO, "luks1: no random bytes");
	h->mk_digest_iterations = KDF_PBKDF2_ITER_MIN;
	if (!forced) {
		rc = kdf_calibrate(&p, LUKS1_MK_ITER_MS, 0, LUKS1_DIGEST_LEN);
		if (rc)
			return luks_err_set(err, rc, "luks1: digest calibration failed");
		h->mk_digest_iterations = p.iterations;
	}
	rc = kdf_pbkdf2(h->hash_spec, key->bytes, key->len, h->mk_digest_salt, LUKS1_SALT_LEN,
			h->mk_digest_iterations, h->mk_digest, LUKS1_DIGEST_LEN);
	return rc ? luks_err_set(err, rc, "luks1: digest computation failed") : 0;
}

int luks1_format(const struct luks_io *io, const struct luks_format_params *p, const void *pass,
		 size_t pass_len, struct luks_err *err)
{
	struct luks1_hdr *hdr = calloc(1, sizeof(*hdr));
	struct luks_key *key = NULL;
	int rc;

	if (!hdr)
		return luks_err_set(err, -ENOMEM, "luks1: out of memory");
	if ((rc = format_layout(io, p, &hdr->phdr, err)))
		goto out;
	snprintf(hdr->cipher, sizeof(hdr->cipher), "aes-xts-plain64");
	key = luks_key_new(p->key_size);
	if (key && p->volume_key)
		memcpy(key->bytes, p->volume_key->bytes, key->len);
	else if (key && RAND_bytes(key->bytes, (int)key->len) != 1) {
		rc = luks_err_set(err, -EIO, "luks1: no volume key");
		goto out;
	}
	if (!key || uuid_generate_random_str(hdr->phdr.uuid)) {
		rc = luks_err_set(err, key ? -EIO : -ENOMEM, "luks1: no volume key");
		goto out;
	}
	if ((rc = mk_digest_make(&hdr->phdr, key, p->kdf.iterations != 0, err)) ||
	    (rc = zero_fill(io, (uint64_t)hdr->phdr.payload_offset * AREA_SECTOR, err)) ||
	    (rc = slot_seal(io, hdr, 0, &p->kdf, pass, pass_len, key, err)))
		goto out;
	hdr->phdr.keyslots[0].active = LUKS1_SLOT_ACTIVE;
	rc = phdr_write(io, &hdr->phdr, err);
out:
	luks_key_free(key);
	free(hdr);
	return rc;
}

int luks1_keyslot_add(const struct luks_io *io, const struct luks1_hdr *old, const void *pass,
		      size_t pass_len, const void *new_pass, size_t new_len,
		      const struct luks_kdf_choice *kdf, int *slot, struct luks_err *err)
{
	struct luks1_hdr hdr = *old;
	struct luks_key *key = NULL;
	int rc, used, id = -1;

	if (!io->write)
		return luks_err_set(err, -EROFS, "luks1: storage is read-only");
	for (int i = LUKS1_KEYSLOTS - 1; i >= 0; i--)
		if (hdr.phdr.keyslots[i].active != LUKS1_SLOT_ACTIVE)
			id = i;
	if (id < 0)
		return luks_err_set(err, -ENOSPC, "luks1: all %d keyslots in use", LUKS1_KEYSLOTS);
	hdr.phdr.keyslots[id].stripes = LUKS1_STRIPES;
	if ((rc = luks1_keyslot_check(&hdr, id, io->size, err)) ||
	    (rc = luks1_unlock(io, old, pass, pass_len, &key, &used, err)) ||
	    (rc = slot_seal(io, &hdr, id, kdf, new_pass, new_len, key, err)))
		goto out;
	hdr.phdr.keyslots[id].active = LUKS1_SLOT_ACTIVE;
	rc = phdr_write(io, &hdr.phdr, err);
	if (rc == 0)
		*slot = id;
out:
	luks_key_free(key);
	OPENSSL_cleanse(&hdr, sizeof(hdr));
	return rc;
}

int luks1_keyslot_remove(const struct luks_io *io, const struct luks1_hdr *old, const void *pass,
			 size_t pass_len, int *slot, struct luks_err *err)
{
	struct luks1_hdr hdr = *old;
	struct luks1_keyslot *k;
	struct luks_key *key = NULL;
	int rc, id, count = 0;

	if (!io->write)
		return luks_err_set(err, -EROFS, "luks1: storage is read-only");
	if ((rc = luks1_unlock(io, old, pass, pass_len, &key, &id, err)))
		goto out;
	for (int i = 0; i < LUKS1_KEYSLOTS; i++)
		count += hdr.phdr.keyslots[i].active == LUKS1_SLOT_ACTIVE;
	if (count == 1) {
		rc = luks_err_set(err, -EPERM,
				  "luks1: keyslot %d is the last one; removing it would lose the "
				  "volume key",
				  id);
		goto out;
	}
	k = &hdr.phdr.keyslots[id];
	k->active = LUKS1_SLOT_INACTIVE;
	k->iterations = 0;
	memset(k->salt, 0, sizeof(k->salt));
	if ((rc = phdr_write(io, &hdr.phdr, err)))
		goto out;
	rc = keyslot_area_wipe(
	    io, (uint64_t)k->material_offset * AREA_SECTOR,
	    (uint64_t)luks1_material_sectors(hdr.phdr.key_bytes, k->stripes) * AREA_SECTOR, err);
	if (rc == 0)
		*slot = id;
out:
	luks_key_free(key);
	return rc;
}
