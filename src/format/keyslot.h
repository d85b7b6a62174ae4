/* Keyslot material, common to LUKS1 and LUKS2: the passphrase's derived key
 * encrypts the anti-forensic split of the volume key in an area of its own. */
#ifndef CRYPTBLK_FORMAT_KEYSLOT_H
#define CRYPTBLK_FORMAT_KEYSLOT_H

#include "kdf.h"

#include <cryptblk/luks.h>

struct keyslot_geom {
	uint64_t offset;     /* bytes from the start of the storage */
	const char *cipher;  /* of the area */
	size_t area_key_len; /* bytes derived from the passphrase */
	const char *af_hash;
	uint32_t stripes;
	size_t key_len; /* bytes of volume key */
	const struct kdf_params *kdf;
};

/* Bytes the material occupies: whole 512-byte sectors. */
size_t keyslot_material_size(const struct keyslot_geom *g);

/* Derive, read, decrypt and merge: a candidate volume key (not yet checked
 * against any digest) into key[0..key_len). */
int keyslot_material_open(const struct luks_io *io, const struct keyslot_geom *g, const void *pass,
			  size_t pass_len, uint8_t *key);

/* Split, encrypt and write the material for `key`, then sync. */
int keyslot_material_store(const struct luks_io *io, const struct keyslot_geom *g, const void *pass,
			   size_t pass_len, const uint8_t *key, struct luks_err *err);

/* Overwrite `len` bytes at `offset` with random data, then sync. */
int keyslot_area_wipe(const struct luks_io *io, uint64_t offset, uint64_t len,
		      struct luks_err *err);

#endif
