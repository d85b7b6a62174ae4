/* LUKS2 keyslots: opening one with a passphrase, and the JSON of a new one. */
#include "luks2.h"
#include "b64.h"
#include "err.h"
#include "keyslot.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdio.h>

int luks2_digest_verify(const struct luks2_digest *dg, const struct luks_key *key)
{
	uint8_t calc[LUKS2_DIGEST_MAX];
	int rc;

	rc = kdf_pbkdf2(dg->hash, key->bytes, key->len, dg->salt, dg->salt_len, dg->iterations,
			calc, dg->value_len);
	if (rc == 0 && CRYPTO_memcmp(calc, dg->value, dg->value_len) != 0)
		rc = -ENOKEY;
	OPENSSL_cleanse(calc, sizeof(calc));
	return rc;
}

static void keyslot_geom(const struct luks2_keyslot *ks, struct keyslot_geom *g)
{
	g->offset = ks->area_offset;
	g->cipher = ks->area_cipher;
	g->area_key_len = ks->area_key_size;
	g->af_hash = ks->af_hash;
	g->stripes = ks->stripes;
	g->key_len = ks->key_size;
	g->kdf = &ks->kdf;
}

/* One keyslot: 0 with the key filled, -ENOKEY when the passphrase is not
 * this slot's, another error when the slot could not be tried. */
static int keyslot_try(const struct luks_io *io, const struct luks2_meta *m, unsigned id,
		       const void *pass, size_t pass_len, struct luks_key *key)
{
	const struct luks2_keyslot *ks = &m->keyslots[id];
	struct keyslot_geom g;
	int rc;

	keyslot_geom(ks, &g);
	key->len = ks->key_size;
	rc = keyslot_material_open(io, &g, pass, pass_len, key->bytes);
	if (rc == 0)
		rc = luks2_digest_verify(&m->digests[ks->digest], key);
	return rc;
}

int luks2_unlock(const struct luks_io *io, const struct luks2_hdr *hdr, const void *pass,
		 size_t pass_len, struct luks_key **out, int *slot, struct luks_err *err)
{
	const struct luks2_meta *m = &hdr->meta;
	struct luks_key *key = luks_key_new(LUKS_KEY_MAX);
	int rc = -ENOKEY;

	if (!key)
		return luks_err_set(err, -ENOMEM, "luks2: out of locked memory");
	/* Preferred keyslots first, then normal ones; "ignore" ones never
	 * (cryptsetup's order when no keyslot is named). */
	for (int prio = 2; prio >= 1 && rc == -ENOKEY; prio--) {
		for (unsigned id = 0; id < LUKS2_KEYSLOTS_MAX && rc == -ENOKEY; id++) {
			const struct luks2_keyslot *ks = &m->keyslots[id];

			if (!ks->present || ks->priority != prio || ks->digest != m->segment_digest)
				continue;
			rc = keyslot_try(io, m, id, pass, pass_len, key);
			if (rc == 0)
				*slot = (int)id;
			else if (rc != -ENOKEY)
				luks_err_set(err, rc, "luks2: keyslot %u: could not be opened (%s)",
					     id,
					     rc == -ENOMEM ? "out of memory" : "I/O or KDF error");
		}
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

void luks2_json_add_u64str(json_object *o, const char *key, uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	json_object_object_add(o, key, json_object_new_string(buf));
}

void luks2_json_add_b64(json_object *o, const char *key, const uint8_t *data, size_t len)
{
	char buf[b64_encoded_len(KDF_SALT_MAX) + 1];

	b64_encode(data, len, buf);
	json_object_object_add(o, key, json_object_new_string(buf));
}

json_object *luks2_keyslot_json(const struct luks2_keyslot *ks)
{
	json_object *o = json_object_new_object(), *af = json_object_new_object();
	json_object *area = json_object_new_object(), *kdf = json_object_new_object();
	const struct kdf_params *k = &ks->kdf;

	json_object_object_add(o, "type", json_object_new_string("luks2"));
	json_object_object_add(o, "key_size", json_object_new_int64(ks->key_size));
	json_object_object_add(af, "type", json_object_new_string("luks1"));
	json_object_object_add(af, "stripes", json_object_new_int64(ks->stripes));
	json_object_object_add(af, "hash", json_object_new_string(ks->af_hash));
	json_object_object_add(o, "af", af);
	json_object_object_add(area, "type", json_object_new_string("raw"));
	luks2_json_add_u64str(area, "offset", ks->area_offset);
	luks2_json_add_u64str(area, "size", ks->area_size);
	json_object_object_add(area, "encryption", json_object_new_string(ks->area_cipher));
	json_object_object_add(area, "key_size", json_object_new_int64(ks->area_key_size));
	json_object_object_add(o, "area", area);
	json_object_object_add(kdf, "type", json_object_new_string(kdf_type_name(k->type)));
	if (k->type == KDF_PBKDF2) {
		json_object_object_add(kdf, "hash", json_object_new_string(k->hash));
		json_object_object_add(kdf, "iterations", json_object_new_int64(k->iterations));
	} else {
		json_object_object_add(kdf, "time", json_object_new_int64(k->iterations));
		json_object_object_add(kdf, "memory", json_object_new_int64(k->memory_kib));
		json_object_object_add(kdf, "cpus", json_object_new_int64(k->parallel));
	}
	luks2_json_add_b64(kdf, "salt", k->salt, k->salt_len);
	json_object_object_add(o, "kdf", kdf);
	return o;
}
