/* LUKS2 JSON metadata: every field checked before anything uses it.
 *
 * Order of the checks: config (it sizes the areas), segments, keyslots
 * (their areas must lie in the keyslots area and not overlap), digests (they
 * bind keyslots to the segment), tokens. */
#include "luks2_meta.h"
#include "area.h"
#include "b64.h"
#include "err.h"
#include "luks2_disk.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int luks2_json_u64_parse(const char *s, uint64_t *v)
{
	uint64_t x = 0;

	if (!s[0] || (s[0] == '0' && s[1]))
		return -EINVAL;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		if (x > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -ERANGE;
		x = x * 10 + (uint64_t)(*p - '0');
	}
	*v = x;
	return 0;
}

/* An object's id: a decimal below `max`. */
static int id_parse(const char *key, unsigned max, unsigned *id)
{
	uint64_t v;

	if (luks2_json_u64_parse(key, &v) || v >= max)
		return -EINVAL;
	*id = (unsigned)v;
	return 0;
}

static int get_field(json_object *o, const char *key, json_type type, const char *where,
		     json_object **out, struct luks_err *err)
{
	if (!json_object_object_get_ex(o, key, out))
		return luks_err_set(err, -EINVAL, "luks2: %s: %s missing", where, key);
	if (!json_object_is_type(*out, type))
		return luks_err_set(err, -EINVAL, "luks2: %s: %s has the wrong type", where, key);
	return 0;
}

static int get_object(json_object *o, const char *key, const char *where, json_object **out,
		      struct luks_err *err)
{
	return get_field(o, key, json_type_object, where, out, err);
}

static int get_string(json_object *o, const char *key, const char *where, const char **out,
		      struct luks_err *err)
{
	json_object *v;
	int rc = get_field(o, key, json_type_string, where, &v, err);

	if (rc == 0)
		*out = json_object_get_string(v);
	return rc;
}

/* A string that must equal `want`. */
static int get_kind(json_object *o, const char *key, const char *want, const char *where,
		    struct luks_err *err)
{
	const char *s;
	int rc = get_string(o, key, where, &s, err);

	if (rc == 0 && strcmp(s, want) != 0)
		rc =
		    luks_err_set(err, -ENOTSUP, "luks2: %s: %s '%.32s' unsupported", where, key, s);
	return rc;
}

static int get_copy(json_object *o, const char *key, const char *where, char *dst, size_t cap,
		    struct luks_err *err)
{
	const char *s;
	int rc = get_string(o, key, where, &s, err);

	if (rc == 0 && strlen(s) >= cap)
		rc = luks_err_set(err, -EINVAL, "luks2: %s: %s too long", where, key);
	if (rc == 0)
		memcpy(dst, s, strlen(s) + 1);
	return rc;
}

static int get_u64str(json_object *o, const char *key, const char *where, uint64_t *v,
		      struct luks_err *err)
{
	const char *s;
	int rc = get_string(o, key, where, &s, err);

	if (rc == 0 && luks2_json_u64_parse(s, v) != 0)
		rc = luks_err_set(err, -EINVAL, "luks2: %s: %s '%.32s' not a decimal number", where,
				  key, s);
	return rc;
}

static int get_int(json_object *o, const char *key, const char *where, int64_t min, int64_t max,
		   int64_t *v, struct luks_err *err)
{
	json_object *j;
	int rc = get_field(o, key, json_type_int, where, &j, err);

	if (rc)
		return rc;
	*v = json_object_get_int64(j);
	if (*v < min || *v > max)
		return luks_err_set(err, -ERANGE,
				    "luks2: %s: %s %" PRId64 " outside %" PRId64 "..%" PRId64,
				    where, key, *v, min, max);
	return 0;
}

static int get_b64(json_object *o, const char *key, const char *where, uint8_t *buf, size_t cap,
		   size_t *len, struct luks_err *err)
{
	const char *s;
	int rc = get_string(o, key, where, &s, err), n;

	if (rc)
		return rc;
	n = b64_decode(s, buf, cap);
	if (n == -E2BIG)
		return luks_err_set(err, -E2BIG, "luks2: %s: %s longer than %zu bytes", where, key,
				    cap);
	if (n <= 0)
		return luks_err_set(err, -EINVAL, "luks2: %s: %s not base64", where, key);
	*len = (size_t)n;
	return 0;
}

static int get_hash(json_object *o, const char *key, const char *where, char *dst,
		    struct luks_err *err)
{
	int rc = get_copy(o, key, where, dst, KDF_HASH_NAME_MAX, err);

	if (rc == 0 && !kdf_hash_lookup(dst))
		rc = luks_err_set(err, -ENOTSUP, "luks2: %s: %s '%s' unsupported", where, key, dst);
	return rc;
}

/* An array of id strings, each below `max`, as a bit mask. */
static int get_id_set(json_object *o, const char *key, const char *where, unsigned max,
		      uint32_t *set, struct luks_err *err)
{
	json_object *arr;
	int rc = get_field(o, key, json_type_array, where, &arr, err);
	size_t n;

	if (rc)
		return rc;
	*set = 0;
	n = json_object_array_length(arr);
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(arr, i);
		unsigned id;

		if (!json_object_is_type(e, json_type_string) ||
		    id_parse(json_object_get_string(e), max, &id))
			return luks_err_set(err, -EINVAL, "luks2: %s: %s[%zu] not an id below %u",
					    where, key, i, max);
		*set |= 1u << id;
	}
	return 0;
}

static int config_validate(json_object *root, uint64_t hdr_size, uint64_t dev_size,
			   struct luks2_meta *m, struct luks_err *err)
{
	json_object *cfg, *flags, *req, *mand;
	int rc = get_object(root, "config", "metadata", &cfg, err);

	if (rc == 0)
		rc = get_u64str(cfg, "json_size", "config", &m->json_size, err);
	if (rc == 0)
		rc = get_u64str(cfg, "keyslots_size", "config", &m->keyslots_size, err);
	if (rc)
		return rc;
	if (m->json_size != hdr_size - LUKS2_BIN_SIZE)
		return luks_err_set(err, -EINVAL,
				    "luks2: config: json_size %" PRIu64
				    " does not match hdr_size %" PRIu64,
				    m->json_size, hdr_size);
	if (m->keyslots_size % LUKS2_AREA_ALIGN || m->keyslots_size > LUKS2_KEYSLOTS_SIZE_MAX)
		return luks_err_set(err, -EINVAL,
				    "luks2: config: keyslots_size %" PRIu64
				    " not a multiple of 4096 up to 128 MiB",
				    m->keyslots_size);
	if (2 * hdr_size + m->keyslots_size > dev_size)
		return luks_err_set(
		    err, -EINVAL,
		    "luks2: config: keyslots_size: metadata area ends past the device");
	if (json_object_object_get_ex(cfg, "flags", &flags)) {
		if (!json_object_is_type(flags, json_type_array))
			return luks_err_set(err, -EINVAL, "luks2: config: flags not an array");
		for (size_t i = 0; i < json_object_array_length(flags); i++) {
			json_object *f = json_object_array_get_idx(flags, i);

			if (!json_object_is_type(f, json_type_string))
				return luks_err_set(err, -EINVAL,
						    "luks2: config: flags[%zu] not a string", i);
			if (!strcmp(json_object_get_string(f), "allow-discards"))
				m->allow_discards = true;
		}
	}
	if (json_object_object_get_ex(cfg, "requirements", &req)) {
		if (!json_object_is_type(req, json_type_object))
			return luks_err_set(err, -EINVAL,
					    "luks2: config: requirements not an object");
		if (json_object_object_get_ex(req, "mandatory", &mand) &&
		    (!json_object_is_type(mand, json_type_array) ||
		     json_object_array_length(mand) > 0))
			return luks_err_set(err, -ENOTSUP,
					    "luks2: config: requirements.mandatory unsupported "
					    "(reencryption or another feature in progress)");
	}
	return 0;
}

static int segment_fields(json_object *s, const char *where, uint64_t meta_end, uint64_t dev_size,
			  struct luks2_segment *seg, struct luks_err *err)
{
	const char *size;
	json_object *flags;
	int64_t ss;
	int rc;

	if ((rc = get_kind(s, "type", "crypt", where, err)) ||
	    (rc = get_u64str(s, "offset", where, &seg->offset, err)) ||
	    (rc = get_u64str(s, "iv_tweak", where, &seg->iv_tweak, err)) ||
	    (rc = get_copy(s, "encryption", where, seg->cipher, sizeof(seg->cipher), err)) ||
	    (rc = get_int(s, "sector_size", where, 512, 4096, &ss, err)) ||
	    (rc = get_string(s, "size", where, &size, err)))
		return rc;
	if (area_cipher_check(seg->cipher, 64) == -ENOTSUP)
		return luks_err_set(err, -ENOTSUP, "luks2: %s: encryption '%s' unsupported", where,
				    seg->cipher);
	if (ss & (ss - 1))
		return luks_err_set(err, -EINVAL,
				    "luks2: %s: sector_size %" PRId64 " not a power of two", where,
				    ss);
	seg->sector_size = (uint32_t)ss;
	if (json_object_object_get_ex(s, "integrity", &flags))
		return luks_err_set(err, -ENOTSUP, "luks2: %s: integrity unsupported", where);
	if (json_object_object_get_ex(s, "flags", &flags) &&
	    (!json_object_is_type(flags, json_type_array) || json_object_array_length(flags)))
		return luks_err_set(err, -ENOTSUP,
				    "luks2: %s: flags unsupported (reencryption segment)", where);
	if (seg->offset % 512 || seg->offset < meta_end)
		return luks_err_set(err, -EINVAL,
				    "luks2: %s: offset %" PRIu64
				    " unaligned or inside the metadata area (ends at %" PRIu64 ")",
				    where, seg->offset, meta_end);
	seg->dynamic = !strcmp(size, "dynamic");
	if (seg->dynamic)
		return 0;
	if (luks2_json_u64_parse(size, &seg->size))
		return luks_err_set(err, -EINVAL, "luks2: %s: size '%.32s' not a number or dynamic",
				    where, size);
	if (seg->size == 0 || seg->size % seg->sector_size)
		return luks_err_set(err, -EINVAL, "luks2: %s: size not a multiple of sector_size",
				    where);
	if (seg->size > dev_size || seg->offset > dev_size - seg->size)
		return luks_err_set(err, -EINVAL, "luks2: %s: data past the end of the device",
				    where);
	return 0;
}

static int segments_validate(json_object *root, uint64_t meta_end, uint64_t dev_size,
			     struct luks2_meta *m, struct luks_err *err)
{
	json_object *segs;
	char where[32];
	int rc = get_object(root, "segments", "metadata", &segs, err), n;

	if (rc)
		return rc;
	n = json_object_object_length(segs);
	if (n != 1)
		return luks_err_set(err, -ENOTSUP,
				    "luks2: segments: %d segments; exactly one is supported", n);
	json_object_object_foreach(segs, key, val)
	{
		if (id_parse(key, LUKS2_KEYSLOTS_MAX, &m->segment.id))
			return luks_err_set(err, -EINVAL, "luks2: segments: id '%.16s' invalid",
					    key);
		snprintf(where, sizeof(where), "segment %u", m->segment.id);
		if (!json_object_is_type(val, json_type_object))
			return luks_err_set(err, -EINVAL, "luks2: %s: not an object", where);
		rc = segment_fields(val, where, meta_end, dev_size, &m->segment, err);
	}
	return rc;
}

static int kdf_validate(json_object *ks, const char *where, struct kdf_params *k,
			struct luks_err *err)
{
	char w[48];
	json_object *o;
	const char *type;
	int64_t v, mem, cpus;
	int rc;

	snprintf(w, sizeof(w), "%s: kdf", where);
	if ((rc = get_object(ks, "kdf", where, &o, err)) ||
	    (rc = get_string(o, "type", w, &type, err)))
		return rc;
	if (kdf_type_parse(type, &k->type))
		return luks_err_set(err, -ENOTSUP, "luks2: %s: type '%.32s' unsupported", w, type);
	if ((rc = get_b64(o, "salt", w, k->salt, sizeof(k->salt), &k->salt_len, err)))
		return rc;
	if (k->type == KDF_PBKDF2) {
		if ((rc = get_hash(o, "hash", w, k->hash, err)) ||
		    (rc = get_int(o, "iterations", w, 1, INT32_MAX, &v, err)))
			return rc;
		k->iterations = (uint32_t)v;
		return 0;
	}
	if ((rc = get_int(o, "time", w, 1, UINT32_MAX, &v, err)) ||
	    (rc = get_int(o, "cpus", w, 1, KDF_ARGON2_PARALLEL_MAX, &cpus, err)) ||
	    (rc = get_int(o, "memory", w, 8 * cpus, KDF_ARGON2_MEMORY_MAX, &mem, err)))
		return rc;
	if (k->salt_len < KDF_ARGON2_SALT_MIN)
		return luks_err_set(err, -EINVAL, "luks2: %s: salt shorter than %d bytes", w,
				    KDF_ARGON2_SALT_MIN);
	k->iterations = (uint32_t)v;
	k->memory_kib = (uint32_t)mem;
	k->parallel = (uint32_t)cpus;
	return 0;
}

static int keyslot_area(json_object *ks, const char *where, const struct luks2_meta *m,
			struct luks2_keyslot *k, struct luks_err *err)
{
	char w[48];
	json_object *a;
	int64_t v;
	int rc;

	snprintf(w, sizeof(w), "%s: area", where);
	if ((rc = get_object(ks, "area", where, &a, err)) ||
	    (rc = get_kind(a, "type", "raw", w, err)) ||
	    (rc = get_u64str(a, "offset", w, &k->area_offset, err)) ||
	    (rc = get_u64str(a, "size", w, &k->area_size, err)) ||
	    (rc = get_copy(a, "encryption", w, k->area_cipher, sizeof(k->area_cipher), err)) ||
	    (rc = get_int(a, "key_size", w, 1, LUKS_KEY_MAX, &v, err)))
		return rc;
	k->area_key_size = (uint32_t)v;
	rc = area_cipher_check(k->area_cipher, k->area_key_size);
	if (rc == -ENOTSUP)
		return luks_err_set(err, rc, "luks2: %s: encryption '%s' unsupported", w,
				    k->area_cipher);
	if (rc)
		return luks_err_set(err, rc, "luks2: %s: key_size %u does not fit %s", w,
				    k->area_key_size, k->area_cipher);
	if (k->area_offset % AREA_SECTOR)
		return luks_err_set(err, -EINVAL, "luks2: %s: offset not sector aligned", where);
	if (k->area_offset < 2 * m->hdr_size || k->area_size > m->keyslots_size ||
	    k->area_offset - 2 * m->hdr_size > m->keyslots_size - k->area_size)
		return luks_err_set(err, -EINVAL, "luks2: %s: area outside the keyslots area",
				    where);
	if (k->area_size < area_sectors_bytes((size_t)k->key_size * k->stripes))
		return luks_err_set(err, -EINVAL, "luks2: %s: area too small for its key material",
				    where);
	return 0;
}

static int keyslot_validate(json_object *ks, unsigned id, const struct luks2_meta *m,
			    struct luks2_keyslot *k, struct luks_err *err)
{
	char where[32], w[48];
	json_object *af, *prio;
	int64_t v;
	int rc;

	snprintf(where, sizeof(where), "keyslot %u", id);
	snprintf(w, sizeof(w), "%s: af", where);
	if (!json_object_is_type(ks, json_type_object))
		return luks_err_set(err, -EINVAL, "luks2: %s: not an object", where);
	if ((rc = get_kind(ks, "type", "luks2", where, err)) ||
	    (rc = get_int(ks, "key_size", where, 1, LUKS_KEY_MAX, &v, err)))
		return rc;
	k->key_size = (uint32_t)v;
	k->priority = 1;
	if (json_object_object_get_ex(ks, "priority", &prio)) {
		if ((rc = get_int(ks, "priority", where, 0, 2, &v, err)))
			return rc;
		k->priority = (int)v;
	}
	if ((rc = get_object(ks, "af", where, &af, err)) ||
	    (rc = get_kind(af, "type", "luks1", w, err)) ||
	    (rc = get_int(af, "stripes", w, LUKS2_STRIPES, LUKS2_STRIPES, &v, err)) ||
	    (rc = get_hash(af, "hash", w, k->af_hash, err)))
		return rc;
	k->stripes = (uint32_t)v;
	if ((rc = keyslot_area(ks, where, m, k, err)) ||
	    (rc = kdf_validate(ks, where, &k->kdf, err)))
		return rc;
	k->digest = -1;
	k->present = true;
	return 0;
}

static bool areas_overlap(const struct luks2_keyslot *a, const struct luks2_keyslot *b)
{
	return a->area_offset < b->area_offset + b->area_size &&
	       b->area_offset < a->area_offset + a->area_size;
}

static int keyslots_validate(json_object *root, struct luks2_meta *m, struct luks_err *err)
{
	json_object *kss;
	unsigned id;
	int rc = get_object(root, "keyslots", "metadata", &kss, err);

	if (rc)
		return rc;
	json_object_object_foreach(kss, key, val)
	{
		if (id_parse(key, LUKS2_KEYSLOTS_MAX, &id))
			return luks_err_set(err, -EINVAL,
					    "luks2: keyslots: id '%.16s' not a number below %d",
					    key, LUKS2_KEYSLOTS_MAX);
		if ((rc = keyslot_validate(val, id, m, &m->keyslots[id], err)))
			return rc;
	}
	for (unsigned i = 0; i < LUKS2_KEYSLOTS_MAX; i++)
		for (unsigned j = i + 1; j < LUKS2_KEYSLOTS_MAX; j++)
			if (m->keyslots[i].present && m->keyslots[j].present &&
			    areas_overlap(&m->keyslots[i], &m->keyslots[j]))
				return luks_err_set(err, -EINVAL,
						    "luks2: keyslot %u: area overlaps keyslot %u",
						    j, i);
	return 0;
}

static int digest_validate(json_object *d, unsigned id, struct luks2_meta *m, struct luks_err *err)
{
	struct luks2_digest *dg = &m->digests[id];
	uint32_t segs;
	char where[32];
	int64_t v;
	int rc;

	snprintf(where, sizeof(where), "digest %u", id);
	if (!json_object_is_type(d, json_type_object))
		return luks_err_set(err, -EINVAL, "luks2: %s: not an object", where);
	if ((rc = get_kind(d, "type", "pbkdf2", where, err)) ||
	    (rc = get_hash(d, "hash", where, dg->hash, err)) ||
	    (rc = get_int(d, "iterations", where, 1, INT32_MAX, &v, err)) ||
	    (rc = get_b64(d, "salt", where, dg->salt, sizeof(dg->salt), &dg->salt_len, err)) ||
	    (rc = get_b64(d, "digest", where, dg->value, sizeof(dg->value), &dg->value_len, err)) ||
	    (rc = get_id_set(d, "keyslots", where, LUKS2_KEYSLOTS_MAX, &dg->keyslots, err)) ||
	    (rc = get_id_set(d, "segments", where, LUKS2_KEYSLOTS_MAX, &segs, err)))
		return rc;
	dg->iterations = (uint32_t)v;
	if (dg->value_len != (size_t)EVP_MD_get_size(kdf_hash_lookup(dg->hash)))
		return luks_err_set(err, -EINVAL, "luks2: %s: digest length %zu is not %s's", where,
				    dg->value_len, dg->hash);
	if (segs & ~(1u << m->segment.id))
		return luks_err_set(err, -EINVAL, "luks2: %s: segments name a missing segment",
				    where);
	for (unsigned k = 0; k < LUKS2_KEYSLOTS_MAX; k++) {
		if (!(dg->keyslots & (1u << k)))
			continue;
		if (!m->keyslots[k].present)
			return luks_err_set(err, -EINVAL, "luks2: %s: keyslot %u missing", where,
					    k);
		if (m->keyslots[k].digest >= 0)
			return luks_err_set(err, -EINVAL,
					    "luks2: keyslot %u: bound to digests %d and %u", k,
					    m->keyslots[k].digest, id);
		m->keyslots[k].digest = (int)id;
	}
	dg->segment = segs != 0;
	dg->present = true;
	return 0;
}

/* The segment's digest fixes the volume key size: every keyslot bound to it
 * must agree, and the size must fit the segment's cipher. */
static int segment_bind(struct luks2_meta *m, struct luks_err *err)
{
	m->segment_digest = -1;
	for (unsigned i = 0; i < LUKS2_DIGESTS_MAX; i++) {
		if (!m->digests[i].present || !m->digests[i].segment)
			continue;
		if (m->segment_digest >= 0)
			return luks_err_set(err, -EINVAL,
					    "luks2: digest %u: segment %u already has digest %d", i,
					    m->segment.id, m->segment_digest);
		m->segment_digest = (int)i;
	}
	if (m->segment_digest < 0)
		return luks_err_set(err, -EINVAL, "luks2: segment %u: no digest", m->segment.id);
	for (unsigned k = 0; k < LUKS2_KEYSLOTS_MAX; k++) {
		const struct luks2_keyslot *ks = &m->keyslots[k];

		if (!ks->present || ks->digest != m->segment_digest)
			continue;
		if (m->segment.key_size && ks->key_size != m->segment.key_size)
			return luks_err_set(err, -EINVAL,
					    "luks2: keyslot %u: key_size %u differs from the "
					    "volume key's %u",
					    k, ks->key_size, m->segment.key_size);
		if (area_cipher_check(m->segment.cipher, ks->key_size))
			return luks_err_set(err, -EINVAL,
					    "luks2: keyslot %u: key_size %u does not fit %s", k,
					    ks->key_size, m->segment.cipher);
		m->segment.key_size = ks->key_size;
	}
	return 0;
}

static int digests_validate(json_object *root, struct luks2_meta *m, struct luks_err *err)
{
	json_object *dgs;
	unsigned id;
	int rc = get_object(root, "digests", "metadata", &dgs, err);

	if (rc)
		return rc;
	json_object_object_foreach(dgs, key, val)
	{
		if (id_parse(key, LUKS2_DIGESTS_MAX, &id))
			return luks_err_set(err, -EINVAL, "luks2: digests: id '%.16s' invalid",
					    key);
		if ((rc = digest_validate(val, id, m, err)))
			return rc;
	}
	return segment_bind(m, err);
}

static int tokens_validate(json_object *root, const struct luks2_meta *m, struct luks_err *err)
{
	json_object *toks;
	char where[32];
	const char *type;
	uint32_t slots;
	unsigned id;
	int rc = get_object(root, "tokens", "metadata", &toks, err);

	if (rc)
		return rc;
	json_object_object_foreach(toks, key, val)
	{
		if (id_parse(key, LUKS2_TOKENS_MAX, &id))
			return luks_err_set(err, -EINVAL, "luks2: tokens: id '%.16s' invalid", key);
		snprintf(where, sizeof(where), "token %u", id);
		if (!json_object_is_type(val, json_type_object))
			return luks_err_set(err, -EINVAL, "luks2: %s: not an object", where);
		if ((rc = get_string(val, "type", where, &type, err)) ||
		    (rc = get_id_set(val, "keyslots", where, LUKS2_KEYSLOTS_MAX, &slots, err)))
			return rc;
		for (unsigned k = 0; k < LUKS2_KEYSLOTS_MAX; k++)
			if ((slots & (1u << k)) && !m->keyslots[k].present)
				return luks_err_set(err, -EINVAL, "luks2: %s: keyslot %u missing",
						    where, k);
	}
	return 0;
}

int luks2_json_validate(json_object *root, uint64_t hdr_size, uint64_t dev_size,
			struct luks2_meta *m, struct luks_err *err)
{
	int rc;

	memset(m, 0, sizeof(*m));
	m->hdr_size = hdr_size;
	if (!json_object_is_type(root, json_type_object))
		return luks_err_set(err, -EINVAL, "luks2: metadata: not a JSON object");
	if ((rc = config_validate(root, hdr_size, dev_size, m, err)) ||
	    (rc = segments_validate(root, 2 * hdr_size + m->keyslots_size, dev_size, m, err)) ||
	    (rc = keyslots_validate(root, m, err)) || (rc = digests_validate(root, m, err)) ||
	    (rc = tokens_validate(root, m, err)))
		return rc;
	return 0;
}
