/* LUKS1: validation of the phdr, unlocking, the data layout. */
#include "luks1_meta.h"
#include "area.h"
#include "err.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint32_t luks1_material_sectors(uint32_t key_bytes, uint32_t stripes)
{
	return (uint32_t)(area_sectors_bytes((size_t)key_bytes * stripes) / AREA_SECTOR);
}

void luks1_keyslot_geom(const struct luks1_hdr *hdr, int slot, struct kdf_params *kdf,
			struct keyslot_geom *g)
{
	const struct luks1_phdr *h = &hdr->phdr;
	const struct luks1_keyslot *k = &h->keyslots[slot];

	memset(kdf, 0, sizeof(*kdf));
	kdf->type = KDF_PBKDF2;
	snprintf(kdf->hash, sizeof(kdf->hash), "%.15s", h->hash_spec);
	kdf->iterations = k->iterations;
	memcpy(kdf->salt, k->salt, LUKS1_SALT_LEN);
	kdf->salt_len = LUKS1_SALT_LEN;
	g->offset = (uint64_t)k->material_offset * AREA_SECTOR;
	g->cipher = hdr->cipher;
	g->area_key_len = h->key_bytes;
	g->af_hash = h->hash_spec;
	g->stripes = k->stripes;
	g->key_len = h->key_bytes;
	g->kdf = kdf;
}

int luks1_keyslot_check(const struct luks1_hdr *hdr, int i, uint64_t dev_size, struct luks_err *err)
{
	const struct luks1_phdr *h = &hdr->phdr;
	const struct luks1_keyslot *k = &h->keyslots[i];
	uint64_t start = k->material_offset, end;

	if (k->stripes != LUKS1_STRIPES)
		return luks_err_set(err, -EINVAL, "luks1: keyslot %d: stripes %u, not %u", i,
				    k->stripes, LUKS1_STRIPES);
	end = start + luks1_material_sectors(h->key_bytes, k->stripes);
	if (start * AREA_SECTOR < LUKS1_PHDR_SIZE)
		return luks_err_set(err, -EINVAL, "luks1: keyslot %d: material overlaps the header",
				    i);
	if (end > h->payload_offset || end * AREA_SECTOR > dev_size)
		return luks_err_set(
		    err, -EINVAL, "luks1: keyslot %d: material past the payload or the device", i);
	for (int j = 0; j < LUKS1_KEYSLOTS; j++) {
		const struct luks1_keyslot *o = &h->keyslots[j];
		uint64_t ostart = o->material_offset;
		uint64_t oend = ostart + luks1_material_sectors(h->key_bytes, o->stripes);

		if (j != i && o->active == LUKS1_SLOT_ACTIVE && o->stripes == LUKS1_STRIPES &&
		    start < oend && ostart < end)
			return luks_err_set(
			    err, -EINVAL, "luks1: keyslot %d: material overlaps keyslot %d", i, j);
	}
	return 0;
}

static int phdr_check(const struct luks1_hdr *hdr, uint64_t dev_size, struct luks_err *err)
{
	const struct luks1_phdr *h = &hdr->phdr;
	int rc;

	if (h->version != 1)
		return luks_err_set(err, -EINVAL, "luks1: version %u not 1", h->version);
	rc = area_cipher_check(hdr->cipher, h->key_bytes);
	if (rc == -ENOTSUP)
		return luks_err_set(err, rc, "luks1: cipher '%s' unsupported", hdr->cipher);
	if (rc)
		return luks_err_set(err, rc, "luks1: key_bytes %u does not fit %s", h->key_bytes,
				    hdr->cipher);
	if (!kdf_hash_lookup(h->hash_spec))
		return luks_err_set(err, -ENOTSUP, "luks1: hash_spec '%s' unsupported",
				    h->hash_spec);
	if (h->mk_digest_iterations == 0 || h->mk_digest_iterations > INT32_MAX)
		return luks_err_set(err, -EINVAL, "luks1: mk_digest_iterations %u out of range",
				    h->mk_digest_iterations);
	if (h->payload_offset == 0)
		return luks_err_set(err, -ENOTSUP,
				    "luks1: payload_offset 0 (detached header) unsupported");
	if ((uint64_t)h->payload_offset * AREA_SECTOR < LUKS1_PHDR_SIZE)
		return luks_err_set(err, -EINVAL, "luks1: payload_offset %u overlaps the header",
				    h->payload_offset);
	if ((uint64_t)h->payload_offset * AREA_SECTOR > dev_size)
		return luks_err_set(err, -EINVAL,
				    "luks1: payload_offset past the end of the device");
	for (int i = 0; i < LUKS1_KEYSLOTS; i++) {
		const struct luks1_keyslot *k = &h->keyslots[i];

		if (k->active == LUKS1_SLOT_INACTIVE)
			continue;
		if (k->active != LUKS1_SLOT_ACTIVE)
			return luks_err_set(err, -EINVAL, "luks1: keyslot %d: active field 0x%08x",
					    i, k->active);
		if (k->iterations == 0 || k->iterations > INT32_MAX)
			return luks_err_set(err, -EINVAL,
					    "luks1: keyslot %d: iterations %u out of range", i,
					    k->iterations);
		if ((rc = luks1_keyslot_check(hdr, i, dev_size, err)))
			return rc;
	}
	return 0;
}

int luks1_load(const struct luks_io *io, struct luks1_hdr **out, struct luks_err *err)
{
	struct luks1_phdr_disk d;
	struct luks1_hdr *hdr;
	const char *field;
	int rc;

	if (io->size < sizeof(d))
		return luks_err_set(err, -EINVAL, "luks1: device too small for a header");
	rc = io->read(io->priv, &d, sizeof(d), 0);
	if (rc)
		return luks_err_set(err, rc, "luks1: reading the header failed");
	hdr = calloc(1, sizeof(*hdr));
	if (!hdr)
		return luks_err_set(err, -ENOMEM, "luks1: out of memory");
	rc = luks1_phdr_decode(&d, &hdr->phdr, &field);
	if (rc) {
		luks_err_set(err, rc, "luks1: %s not terminated or invalid", field);
		goto out;
	}
	snprintf(hdr->cipher, sizeof(hdr->cipher), "%s-%s", hdr->phdr.cipher_name,
		 hdr->phdr.cipher_mode);
	rc = phdr_check(hdr, io->size, err);
out:
	if (rc)
		free(hdr);
	else
		*out = hdr;
	return rc;
}

void luks1_free(struct luks1_hdr *hdr)
{
	free(hdr);
}

static int mk_verify(const struct luks1_phdr *h, const struct luks_key *key)
{
	uint8_t calc[LUKS1_DIGEST_LEN];
	int rc = kdf_pbkdf2(h->hash_spec, key->bytes, key->len, h->mk_digest_salt, LUKS1_SALT_LEN,
			    h->mk_digest_iterations, calc, sizeof(calc));

	if (rc == 0 && CRYPTO_memcmp(calc, h->mk_digest, sizeof(calc)) != 0)
		rc = -ENOKEY;
	OPENSSL_cleanse(calc, sizeof(calc));
	return rc;
}

int luks1_unlock(const struct luks_io *io, const struct luks1_hdr *hdr, const void *pass,
		 size_t pass_len, struct luks_key **out, int *slot, struct luks_err *err)
{
	struct luks_key *key = luks_key_new(hdr->phdr.key_bytes);
	struct kdf_params kdf;
	struct keyslot_geom g;
	int rc = -ENOKEY;

	if (!key)
		return luks_err_set(err, -ENOMEM, "luks1: out of locked memory");
	for (int i = 0; i < LUKS1_KEYSLOTS && rc == -ENOKEY; i++) {
		if (hdr->phdr.keyslots[i].active != LUKS1_SLOT_ACTIVE)
			continue;
		luks1_keyslot_geom(hdr, i, &kdf, &g);
		rc = keyslot_material_open(io, &g, pass, pass_len, key->bytes);
		if (rc == 0)
			rc = mk_verify(&hdr->phdr, key);
		if (rc == 0)
			*slot = i;
		else if (rc != -ENOKEY)
			luks_err_set(err, rc, "luks1: keyslot %d: could not be opened", i);
		OPENSSL_cleanse(&kdf, sizeof(kdf));
	}
	if (rc == 0) {
		*out = key;
		return 0;
	}
	luks_key_free(key);
	if (rc == -ENOKEY)
		luks_err_set(err, rc, "No key available with this passphrase.");
	return rc;
}

int luks1_layout(const struct luks1_hdr *hdr, uint64_t dev_size, struct volume_layout *layout,
		 struct luks_err *err)
{
	uint64_t off = (uint64_t)hdr->phdr.payload_offset * AREA_SECTOR;

	if (dev_size <= off || (dev_size - off) / AREA_SECTOR == 0)
		return luks_err_set(err, -EINVAL, "luks1: no data: the device ends at the payload");
	memset(layout, 0, sizeof(*layout));
	layout->data_offset = off;
	layout->size = (dev_size - off) / AREA_SECTOR * AREA_SECTOR;
	layout->sector_size = AREA_SECTOR;
	return 0;
}

int luks1_describe(const struct luks1_hdr *hdr, json_object *out)
{
	const struct luks1_phdr *h = &hdr->phdr;
	json_object *slots = json_object_new_array();

	json_object_object_add(out, "version", json_object_new_int(1));
	json_object_object_add(out, "uuid", json_object_new_string(h->uuid));
	json_object_object_add(out, "cipher", json_object_new_string(hdr->cipher));
	json_object_object_add(out, "hash", json_object_new_string(h->hash_spec));
	json_object_object_add(out, "key_size", json_object_new_int64(h->key_bytes));
	json_object_object_add(out, "sector_size", json_object_new_int(AREA_SECTOR));
	json_object_object_add(out, "data_offset",
			       json_object_new_int64((int64_t)h->payload_offset * AREA_SECTOR));
	json_object_object_add(out, "data_size", json_object_new_string("dynamic"));
	json_object_object_add(out, "mk_iterations",
			       json_object_new_int64(h->mk_digest_iterations));
	for (int i = 0; i < LUKS1_KEYSLOTS; i++) {
		const struct luks1_keyslot *k = &h->keyslots[i];
		json_object *o, *kdf;

		if (k->active != LUKS1_SLOT_ACTIVE)
			continue;
		o = json_object_new_object();
		kdf = json_object_new_object();
		json_object_object_add(o, "id", json_object_new_int(i));
		json_object_object_add(o, "key_size", json_object_new_int64(h->key_bytes));
		json_object_object_add(
		    o, "area_offset",
		    json_object_new_int64((int64_t)k->material_offset * AREA_SECTOR));
		json_object_object_add(
		    o, "area_size",
		    json_object_new_int64(
			(int64_t)luks1_material_sectors(h->key_bytes, k->stripes) * AREA_SECTOR));
		json_object_object_add(o, "af_stripes", json_object_new_int64(k->stripes));
		json_object_object_add(o, "af_hash", json_object_new_string(h->hash_spec));
		json_object_object_add(kdf, "type", json_object_new_string("pbkdf2"));
		json_object_object_add(kdf, "hash", json_object_new_string(h->hash_spec));
		json_object_object_add(kdf, "iterations", json_object_new_int64(k->iterations));
		json_object_object_add(o, "kdf", kdf);
		json_object_array_add(slots, o);
	}
	json_object_object_add(out, "keyslots", slots);
	return 0;
}
