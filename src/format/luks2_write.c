/* LUKS2 writes: format, add and remove a keyslot.
 *
 * Order, as cryptsetup's, so that an interruption never loses a passphrase
 * that worked before: a new keyslot's material is written and synced before
 * the header that names it; a removed keyslot leaves the header first, and
 * its material is wiped afterwards. Headers go out copy 1, then copy 2, each
 * synced, with a seqid above both old ones. */
#include "luks2.h"
#include "af.h"
#include "area.h"
#include "err.h"
#include "keyslot.h"
#include "uuid.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t round_up(uint64_t v, uint64_t align)
{
	return (v + align - 1) / align * align;
}

static const char *json_text(json_object *root)
{
	return json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
							JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* Both copies, primary first, each with its own salt. */
static int headers_write(const struct luks_io *io, const struct luks2_bin bins[2],
			 json_object *root, uint64_t seqid, struct luks_err *err)
{
	const char *text = json_text(root);
	int rc = 0;

	if (!text)
		return luks_err_set(err, -ENOMEM, "luks2: out of memory");
	for (int i = 0; i < 2 && rc == 0; i++) {
		struct luks2_bin b = bins[i];

		b.seqid = seqid;
		b.hdr_offset = i == 0 ? 0 : b.hdr_size;
		rc = luks2_disk_copy_write(io, &b, i == 0, text, err);
	}
	return rc;
}

/* The tree must pass our own reader before it reaches the disk. */
static int self_check(json_object *root, uint64_t hdr_size, uint64_t dev_size, struct luks_err *err)
{
	struct luks2_meta *m = malloc(sizeof(*m));
	struct luks_err e = {{0}};
	int rc;

	if (!m)
		return luks_err_set(err, -ENOMEM, "luks2: out of memory");
	rc = luks2_json_validate(root, hdr_size, dev_size, m, &e);
	free(m);
	if (rc)
		return luks_err_set(err, rc, "luks2: new metadata does not validate: %s", e.msg);
	return 0;
}

static json_object *id_array(unsigned id)
{
	json_object *a = json_object_new_array();
	char buf[12];

	snprintf(buf, sizeof(buf), "%u", id);
	json_object_array_add(a, json_object_new_string(buf));
	return a;
}

static json_object *digest_json(const struct luks2_digest *dg, unsigned slot, unsigned seg)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "type", json_object_new_string("pbkdf2"));
	json_object_object_add(o, "keyslots", id_array(slot));
	json_object_object_add(o, "segments", id_array(seg));
	json_object_object_add(o, "hash", json_object_new_string(dg->hash));
	json_object_object_add(o, "iterations", json_object_new_int64(dg->iterations));
	luks2_json_add_b64(o, "salt", dg->salt, dg->salt_len);
	luks2_json_add_b64(o, "digest", dg->value, dg->value_len);
	return o;
}

static json_object *segment_json(const struct luks2_segment *s)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "type", json_object_new_string("crypt"));
	luks2_json_add_u64str(o, "offset", s->offset);
	json_object_object_add(o, "size", json_object_new_string("dynamic"));
	luks2_json_add_u64str(o, "iv_tweak", 0);
	json_object_object_add(o, "encryption", json_object_new_string(s->cipher));
	json_object_object_add(o, "sector_size", json_object_new_int64(s->sector_size));
	return o;
}

static json_object *format_tree(const struct luks2_keyslot *ks, const struct luks2_digest *dg,
				const struct luks2_segment *seg, uint64_t hdr_size,
				uint64_t keyslots_size)
{
	json_object *root = json_object_new_object(), *o;

	o = json_object_new_object();
	json_object_object_add(o, "0", luks2_keyslot_json(ks));
	json_object_object_add(root, "keyslots", o);
	json_object_object_add(root, "tokens", json_object_new_object());
	o = json_object_new_object();
	json_object_object_add(o, "0", segment_json(seg));
	json_object_object_add(root, "segments", o);
	o = json_object_new_object();
	json_object_object_add(o, "0", digest_json(dg, 0, 0));
	json_object_object_add(root, "digests", o);
	o = json_object_new_object();
	luks2_json_add_u64str(o, "json_size", hdr_size - LUKS2_BIN_SIZE);
	luks2_json_add_u64str(o, "keyslots_size", keyslots_size);
	json_object_object_add(root, "config", o);
	return root;
}

/* The volume-key digest: cheap when the keyslot's costs were forced (tests),
 * else calibrated like cryptsetup's. */
static int digest_make(const struct luks_key *key, bool forced, struct luks2_digest *dg,
		       struct luks_err *err)
{
	struct kdf_params p = {.type = KDF_PBKDF2, .hash = "sha256", .salt_len = KDF_SALT_LEN};
	int rc;

	memset(dg, 0, sizeof(*dg));
	snprintf(dg->hash, sizeof(dg->hash), "sha256");
	dg->salt_len = KDF_SALT_LEN;
	dg->value_len = 32;
	if (RAND_bytes(dg->salt, (int)dg->salt_len) != 1)
		return luks_err_set(err, -EIO, "luks2: no random bytes");
	dg->iterations = KDF_PBKDF2_ITER_MIN;
	if (!forced) {
		rc = kdf_calibrate(&p, LUKS2_DIGEST_ITER_MS, 0, dg->value_len);
		if (rc)
			return luks_err_set(err, rc, "luks2: digest calibration failed");
		dg->iterations = p.iterations;
	}
	rc = kdf_pbkdf2(dg->hash, key->bytes, key->len, dg->salt, dg->salt_len, dg->iterations,
			dg->value, dg->value_len);
	if (rc)
		return luks_err_set(err, rc, "luks2: digest computation failed");
	return 0;
}

static void keyslot_geom_of(const struct luks2_keyslot *ks, struct keyslot_geom *g)
{
	g->offset = ks->area_offset;
	g->cipher = ks->area_cipher;
	g->area_key_len = ks->area_key_size;
	g->af_hash = ks->af_hash;
	g->stripes = ks->stripes;
	g->key_len = ks->key_size;
	g->kdf = &ks->kdf;
}

/* A keyslot for `key` at area_offset, with costs chosen from `choice`. */
static int keyslot_new(const struct luks_kdf_choice *choice, const char *cipher, size_t key_len,
		       uint64_t area_offset, struct luks2_keyslot *ks, struct luks_err *err)
{
	memset(ks, 0, sizeof(*ks));
	ks->present = true;
	ks->key_size = (uint32_t)key_len;
	ks->priority = 1;
	snprintf(ks->af_hash, sizeof(ks->af_hash), "sha256");
	ks->stripes = LUKS2_STRIPES;
	ks->area_offset = area_offset;
	ks->area_size = round_up(af_split_size(key_len, LUKS2_STRIPES), LUKS2_AREA_ALIGN);
	snprintf(ks->area_cipher, sizeof(ks->area_cipher), "%s", cipher);
	ks->area_key_size = (uint32_t)key_len;
	return kdf_params_choose(&ks->kdf, choice, false, key_len, err);
}

static int metadata_wipe(const struct luks_io *io, uint64_t len, struct luks_err *err)
{
	const size_t chunk = 1 << 20;
	uint8_t *zero = calloc(1, chunk);
	int rc = 0;

	if (!zero)
		return luks_err_set(err, -ENOMEM, "luks2: out of memory");
	for (uint64_t off = 0; off < len && rc == 0; off += chunk)
		rc = io->write(io->priv, zero, len - off < chunk ? len - off : chunk, off);
	free(zero);
	if (rc)
		return luks_err_set(err, rc, "luks2: wiping the metadata area failed");
	return 0;
}

static int format_check(const struct luks_io *io, const struct luks_format_params *p,
			struct luks2_segment *seg, struct luks_err *err)
{
	uint64_t data;

	if (!io->write)
		return luks_err_set(err, -EROFS, "luks2: storage is read-only");
	if (area_cipher_check(seg->cipher, p->key_size))
		return luks_err_set(err, -ENOTSUP, "luks2: cipher %s with a %u-bit key unsupported",
				    seg->cipher, p->key_size * 8);
	if (p->label && strlen(p->label) >= LUKS2_LABEL_LEN)
		return luks_err_set(err, -EINVAL, "luks2: label longer than %d characters",
				    LUKS2_LABEL_LEN - 1);
	if (io->size <= seg->offset)
		return luks_err_set(err, -EINVAL,
				    "luks2: device of %" PRIu64
				    " bytes too small: data starts at %" PRIu64,
				    io->size, seg->offset);
	data = io->size - seg->offset;
	seg->sector_size = p->sector_size ? p->sector_size : data % 4096 == 0 ? 4096 : 512;
	if (seg->sector_size != 512 && seg->sector_size != 4096)
		return luks_err_set(err, -EINVAL, "luks2: sector size %u not 512 or 4096",
				    seg->sector_size);
	if (data % seg->sector_size)
		return luks_err_set(err, -EINVAL,
				    "luks2: data area of %" PRIu64 " bytes not a multiple of the "
				    "sector size %u",
				    data, seg->sector_size);
	return 0;
}

static int bins_new(const char *label, struct luks2_bin bins[2], struct luks_err *err)
{
	memset(bins, 0, 2 * sizeof(*bins));
	if (uuid_generate_random_str(bins[0].uuid) ||
	    RAND_bytes(bins[0].salt, LUKS2_SALT_LEN) != 1 ||
	    RAND_bytes(bins[1].salt, LUKS2_SALT_LEN) != 1)
		return luks_err_set(err, -EIO, "luks2: no random bytes");
	bins[0].hdr_size = LUKS2_HDR_SIZE_DEFAULT;
	snprintf(bins[0].csum_alg, sizeof(bins[0].csum_alg), "sha256");
	snprintf(bins[0].label, sizeof(bins[0].label), "%s", label ? label : "");
	memcpy(bins[1].uuid, bins[0].uuid, sizeof(bins[0].uuid));
	memcpy(bins[1].label, bins[0].label, sizeof(bins[0].label));
	memcpy(bins[1].csum_alg, bins[0].csum_alg, sizeof(bins[0].csum_alg));
	bins[1].hdr_size = bins[0].hdr_size;
	return 0;
}

int luks2_format(const struct luks_io *io, const struct luks_format_params *p, const void *pass,
		 size_t pass_len, struct luks_err *err)
{
	const uint64_t hdr_size = LUKS2_HDR_SIZE_DEFAULT;
	struct luks2_segment seg = {.offset = LUKS2_DATA_OFFSET_DEFAULT, .key_size = p->key_size};
	struct luks2_keyslot ks;
	struct luks2_digest dg;
	struct luks2_bin bins[2];
	struct luks_key *key = NULL;
	struct keyslot_geom g;
	json_object *root = NULL;
	int rc;

	snprintf(seg.cipher, sizeof(seg.cipher), "%s", p->cipher);
	if ((rc = format_check(io, p, &seg, err)))
		goto out;
	key = luks_key_new(p->key_size);
	if (key && p->volume_key)
		memcpy(key->bytes, p->volume_key->bytes, key->len);
	else if (!key || RAND_bytes(key->bytes, (int)key->len) != 1) {
		rc = luks_err_set(err, key ? -EIO : -ENOMEM, "luks2: no volume key");
		goto out;
	}
	if ((rc = keyslot_new(&p->kdf, seg.cipher, key->len, 2 * hdr_size, &ks, err)) ||
	    (rc = digest_make(key, p->kdf.iterations != 0, &dg, err)) ||
	    (rc = bins_new(p->label, bins, err)))
		goto out;
	root = format_tree(&ks, &dg, &seg, hdr_size, seg.offset - 2 * hdr_size);
	if ((rc = self_check(root, hdr_size, io->size, err)) ||
	    (rc = metadata_wipe(io, seg.offset, err)))
		goto out;
	keyslot_geom_of(&ks, &g);
	if ((rc = keyslot_material_store(io, &g, pass, pass_len, key->bytes, err)))
		goto out;
	rc = headers_write(io, bins, root, 1, err);
out:
	json_object_put(root);
	luks_key_free(key);
	return rc;
}

/* Writing needs both copies intact: a damaged one is left for the user to
 * see (and repair with cryptsetup), never written over. */
static int writable_check(const struct luks_io *io, const struct luks2_hdr *hdr,
			  struct luks_err *err)
{
	if (!io->write)
		return luks_err_set(err, -EROFS, "luks2: storage is read-only");
	for (int i = 0; i < 2; i++)
		if (hdr->copies[i].status)
			return luks_err_set(err, -EINVAL, "%s; not writing over a damaged header",
					    hdr->copies[i].error);
	return 0;
}

static uint64_t next_seqid(const struct luks2_hdr *hdr)
{
	uint64_t a = hdr->copies[0].bin.seqid, b = hdr->copies[1].bin.seqid;

	return (a > b ? a : b) + 1;
}

static void bins_current(const struct luks2_hdr *hdr, struct luks2_bin bins[2])
{
	bins[0] = hdr->copies[hdr->active].bin;
	bins[1] = hdr->copies[hdr->active].bin;
	memcpy(bins[0].salt, hdr->copies[0].bin.salt, LUKS2_SALT_LEN);
	memcpy(bins[1].salt, hdr->copies[1].bin.salt, LUKS2_SALT_LEN);
}

/* Lowest 4 KiB-aligned gap of `size` bytes in the keyslots area. */
static int area_find(const struct luks2_meta *m, uint64_t size, uint64_t *off)
{
	uint64_t o = 2 * m->hdr_size, end = o + m->keyslots_size;

	while (o + size <= end) {
		bool moved = false;

		for (unsigned i = 0; i < LUKS2_KEYSLOTS_MAX; i++) {
			const struct luks2_keyslot *ks = &m->keyslots[i];

			if (ks->present && ks->area_offset < o + size &&
			    o < ks->area_offset + ks->area_size) {
				o = round_up(ks->area_offset + ks->area_size, LUKS2_AREA_ALIGN);
				moved = true;
			}
		}
		if (!moved) {
			*off = o;
			return 0;
		}
	}
	return -ENOSPC;
}

static int slot_free(const struct luks2_meta *m)
{
	for (int i = 0; i < LUKS2_KEYSLOTS_MAX; i++)
		if (!m->keyslots[i].present)
			return i;
	return -1;
}

static json_object *tree_copy(json_object *root)
{
	json_object *copy = NULL;

	return json_object_deep_copy(root, &copy, NULL) == 0 ? copy : NULL;
}

int luks2_keyslot_add(const struct luks_io *io, const struct luks2_hdr *hdr, const void *pass,
		      size_t pass_len, const void *new_pass, size_t new_len,
		      const struct luks_kdf_choice *kdf, int *slot, struct luks_err *err)
{
	const struct luks2_meta *m = &hdr->meta;
	struct luks_key *key = NULL;
	struct luks2_keyslot ks;
	struct luks2_bin bins[2];
	struct keyslot_geom g;
	json_object *root = NULL, *o;
	char name[12], dname[12];
	int rc, old, id = slot_free(m);
	uint64_t off;

	if ((rc = writable_check(io, hdr, err)))
		goto out;
	if (id < 0) {
		rc =
		    luks_err_set(err, -ENOSPC, "luks2: all %d keyslots in use", LUKS2_KEYSLOTS_MAX);
		goto out;
	}
	if ((rc = luks2_unlock(io, hdr, pass, pass_len, &key, &old, err)))
		goto out;
	if (area_find(m, round_up(af_split_size(key->len, LUKS2_STRIPES), LUKS2_AREA_ALIGN),
		      &off)) {
		rc = luks_err_set(err, -ENOSPC, "luks2: no room left in the keyslots area");
		goto out;
	}
	if ((rc = keyslot_new(kdf, m->keyslots[old].area_cipher, key->len, off, &ks, err)))
		goto out;
	root = tree_copy(hdr->root);
	if (!root) {
		rc = luks_err_set(err, -ENOMEM, "luks2: out of memory");
		goto out;
	}
	snprintf(name, sizeof(name), "%d", id);
	json_object_object_get_ex(root, "keyslots", &o);
	json_object_object_add(o, name, luks2_keyslot_json(&ks));
	/* Bind it to the data segment's digest. */
	snprintf(dname, sizeof(dname), "%d", m->segment_digest);
	if (!json_object_object_get_ex(root, "digests", &o) ||
	    !json_object_object_get_ex(o, dname, &o) ||
	    !json_object_object_get_ex(o, "keyslots", &o)) {
		rc = luks_err_set(err, -EINVAL, "luks2: no digest for the data segment");
		goto out;
	}
	json_object_array_add(o, json_object_new_string(name));
	if ((rc = self_check(root, m->hdr_size, io->size, err)))
		goto out;
	keyslot_geom_of(&ks, &g);
	if ((rc = keyslot_material_store(io, &g, new_pass, new_len, key->bytes, err)))
		goto out;
	bins_current(hdr, bins);
	rc = headers_write(io, bins, root, next_seqid(hdr), err);
	if (rc == 0)
		*slot = id;
out:
	json_object_put(root);
	luks_key_free(key);
	return rc;
}

/* Drop `name` from every "keyslots" array under `section`. */
static void unbind_keyslot(json_object *root, const char *section, const char *name)
{
	json_object *sec, *slots;

	if (!json_object_object_get_ex(root, section, &sec))
		return;
	json_object_object_foreach(sec, key, val)
	{
		(void)key;
		if (!json_object_object_get_ex(val, "keyslots", &slots))
			continue;
		for (size_t i = json_object_array_length(slots); i-- > 0;)
			if (!strcmp(json_object_get_string(json_object_array_get_idx(slots, i)),
				    name))
				json_object_array_del_idx(slots, i, 1);
	}
}

int luks2_keyslot_remove(const struct luks_io *io, const struct luks2_hdr *hdr, const void *pass,
			 size_t pass_len, int *slot, struct luks_err *err)
{
	const struct luks2_meta *m = &hdr->meta;
	struct luks_key *key = NULL;
	struct luks2_bin bins[2];
	json_object *root = NULL, *o;
	char name[12];
	int rc, id, count = 0;

	if ((rc = writable_check(io, hdr, err)) ||
	    (rc = luks2_unlock(io, hdr, pass, pass_len, &key, &id, err)))
		goto out;
	for (int i = 0; i < LUKS2_KEYSLOTS_MAX; i++)
		count += m->keyslots[i].present;
	if (count == 1) {
		rc = luks_err_set(err, -EPERM,
				  "luks2: keyslot %d is the last one; removing it would lose the "
				  "volume key",
				  id);
		goto out;
	}
	root = tree_copy(hdr->root);
	if (!root) {
		rc = luks_err_set(err, -ENOMEM, "luks2: out of memory");
		goto out;
	}
	snprintf(name, sizeof(name), "%d", id);
	json_object_object_get_ex(root, "keyslots", &o);
	json_object_object_del(o, name);
	unbind_keyslot(root, "digests", name);
	unbind_keyslot(root, "tokens", name);
	if ((rc = self_check(root, m->hdr_size, io->size, err)))
		goto out;
	bins_current(hdr, bins);
	if ((rc = headers_write(io, bins, root, next_seqid(hdr), err)))
		goto out;
	rc = keyslot_area_wipe(io, m->keyslots[id].area_offset, m->keyslots[id].area_size, err);
	if (rc == 0)
		*slot = id;
out:
	json_object_put(root);
	luks_key_free(key);
	return rc;
}
