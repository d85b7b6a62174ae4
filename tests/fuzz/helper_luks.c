/* The LUKS fuzz targets' common path and its invariants. The invariants are
 * an independent model of what a validated header promises (areas inside
 * their regions, no overlaps, the data layout's arithmetic); any breach
 * aborts so libFuzzer reports the input. */
#include "helper_luks.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECTOR	     512u
#define LUKS1_HDR    592u  /* bytes of the LUKS1 phdr */
#define STRIPES	     4000u /* the only anti-forensic stripe count */
#define KEYSLOTS_MAX 32

/* Above these costs a passphrase attempt would take more than a few
 * milliseconds: the target stops before the KDF. */
#define CAP_PBKDF2_ITER 1000
#define CAP_ARGON2_TIME 4
#define CAP_ARGON2_KIB	256
#define CAP_ARGON2_CPUS 4
#define CAP_DIGEST_ITER 1000
#define JSON_AREA_MAX	(4u << 20)
#define LAYOUT_PROBES	7

static int image_read(void *priv, void *buf, size_t len, uint64_t off)
{
	const struct fuzz_image *img = priv;
	uint8_t *out = buf;
	size_t have = 0;

	if (off < img->len) {
		have = img->len - off < len ? img->len - (size_t)off : len;
		memcpy(out, img->data + off, have);
	}
	memset(out + have, 0, len - have);
	return 0;
}

void fuzz_image_io(struct fuzz_image *img, uint64_t size, struct luks_io *io)
{
	memset(io, 0, sizeof(*io));
	io->size = size;
	io->read = image_read;
	io->priv = img;
}

uint64_t fuzz_dev_size(unsigned choice, size_t len)
{
	static const uint64_t sizes[] = {
	    0,				    /* the image's own length */
	    1u << 20,			    /* smaller than any default layout */
	    (2u << 20) + SECTOR,	    /* just past LUKS1's default payload */
	    16u << 20,			    /* LUKS2's default data offset: no data */
	    (16u << 20) + 4096,		    /* one 4 KiB sector of data */
	    32u << 20,			    /* room for everything */
	    1ull << 40,			    /* a large disk */
	    UINT64_MAX - UINT64_MAX % 4096, /* arithmetic at the edge */
	};
	uint64_t size = sizes[choice % (sizeof(sizes) / sizeof(sizes[0]))];

	return size ? size : len;
}

/* A failing call must leave one line that says what failed. */
static void err_check(int rc, const struct luks_err *err, const char *call, bool prefixed)
{
	if (rc >= 0)
		fuzz_fail("%s: failure code %d not a negative errno", call, rc);
	if (!err->msg[0])
		fuzz_fail("%s: %d without a message", call, rc);
	for (const char *c = err->msg; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			fuzz_fail("%s: control character 0x%02x in the message: %s", call,
				  (unsigned char)*c, err->msg);
	if (prefixed && strncmp(err->msg, "luks", 4) != 0)
		fuzz_fail("%s: message does not name the format: %s", call, err->msg);
}

static json_object *jget(json_object *o, const char *key, json_type type)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, type))
		fuzz_fail("describe: %s missing or of the wrong type", key);
	return v;
}

/* Every number in a description is a count, size or offset: never below 0. */
static uint64_t jget_u64(json_object *o, const char *key)
{
	json_object *v = jget(o, key, json_type_int);

	if (json_object_get_int64(v) < 0)
		fuzz_fail("describe: %s is negative (%lld)", key,
			  (long long)json_object_get_int64(v));
	return json_object_get_uint64(v);
}

/* What the description says, as the invariants need it. */
struct described {
	int version;
	uint64_t hdr_size; /* LUKS2 */
	uint64_t meta_end; /* first byte after header copies and keyslot areas */
	uint64_t data_offset;
	uint64_t data_size; /* 0: dynamic */
	uint64_t sector_size;
	uint64_t key_size;
	uint64_t iv_tweak;
	bool allow_discards;
	uint64_t active_offset; /* LUKS2: the copy in use */
	json_object *slots;
};

/* LUKS2: where the copy in use lies. */
static uint64_t active_copy_offset(json_object *d)
{
	json_object *copies = jget(d, "header_copies", json_type_array);
	uint64_t active = jget_u64(d, "active_copy");

	if (json_object_array_length(copies) != 2 || active > 1)
		fuzz_fail("describe: header_copies or active_copy malformed");
	return jget_u64(json_object_array_get_idx(copies, (size_t)active), "offset");
}

static void describe_header(json_object *d, struct described *m)
{
	json_object *size;

	memset(m, 0, sizeof(*m));
	m->version = (int)jget_u64(d, "version");
	m->data_offset = jget_u64(d, "data_offset");
	m->sector_size = jget_u64(d, "sector_size");
	m->key_size = jget_u64(d, "key_size");
	m->slots = jget(d, "keyslots", json_type_array);
	if (m->version == 1) {
		m->meta_end = m->data_offset;
		jget_u64(d, "mk_iterations");
		return;
	}
	m->hdr_size = jget_u64(d, "hdr_size");
	m->meta_end = 2 * m->hdr_size + jget_u64(d, "keyslots_size");
	m->iv_tweak = jget_u64(d, "iv_tweak");
	m->allow_discards = json_object_get_boolean(jget(d, "allow_discards", json_type_boolean));
	json_object_object_get_ex(d, "data_size", &size);
	if (!json_object_is_type(size, json_type_string) ||
	    strcmp(json_object_get_string(size), "dynamic") != 0)
		m->data_size = jget_u64(d, "data_size");
	jget_u64(d, "seqid");
	m->active_offset = active_copy_offset(d);
}

static void header_check(const struct described *m)
{
	if (m->sector_size < 512 || m->sector_size > 4096 ||
	    (m->sector_size & (m->sector_size - 1)))
		fuzz_fail("sector_size %llu", (unsigned long long)m->sector_size);
	if (m->data_offset % SECTOR)
		fuzz_fail("data_offset %llu not sector aligned",
			  (unsigned long long)m->data_offset);
	if (m->key_size != 32 && m->key_size != 64 && !(m->version == 2 && m->key_size == 0))
		fuzz_fail("key_size %llu", (unsigned long long)m->key_size);
	if (m->version == 1 && m->data_offset < LUKS1_HDR)
		fuzz_fail("luks1: data at %llu overlaps the header",
			  (unsigned long long)m->data_offset);
	if (m->version == 2 && m->data_offset < m->meta_end)
		fuzz_fail("luks2: data at %llu inside the metadata (ends at %llu)",
			  (unsigned long long)m->data_offset, (unsigned long long)m->meta_end);
	if (m->version == 2 && m->data_size % m->sector_size)
		fuzz_fail("luks2: data size not whole sectors");
}

/* Keyslot areas: aligned, between the header(s) and the end of the
 * metadata, large enough for their material, and apart from each other. */
static void keyslots_check(const struct described *m)
{
	size_t n = json_object_array_length(m->slots);
	uint64_t start = m->version == 1 ? LUKS1_HDR : 2 * m->hdr_size;
	uint64_t off[KEYSLOTS_MAX], len[KEYSLOTS_MAX];

	if (n > KEYSLOTS_MAX || (m->version == 1 && n > 8))
		fuzz_fail("%zu keyslots", n);
	for (size_t i = 0; i < n; i++) {
		json_object *ks = json_object_array_get_idx(m->slots, i);
		uint64_t id = jget_u64(ks, "id"), key = jget_u64(ks, "key_size");

		off[i] = jget_u64(ks, "area_offset");
		len[i] = jget_u64(ks, "area_size");
		if (jget_u64(ks, "af_stripes") != STRIPES)
			fuzz_fail("keyslot %llu: stripes", (unsigned long long)id);
		if (off[i] % SECTOR || off[i] < start || len[i] > m->meta_end ||
		    off[i] > m->meta_end - len[i])
			fuzz_fail("keyslot %llu: area %llu+%llu outside %llu..%llu",
				  (unsigned long long)id, (unsigned long long)off[i],
				  (unsigned long long)len[i], (unsigned long long)start,
				  (unsigned long long)m->meta_end);
		if (key == 0 || key > LUKS_KEY_MAX || len[i] < key * STRIPES)
			fuzz_fail("keyslot %llu: area of %llu bytes for a %llu-byte key",
				  (unsigned long long)id, (unsigned long long)len[i],
				  (unsigned long long)key);
		for (size_t j = 0; j < i; j++)
			if (off[i] < off[j] + len[j] && off[j] < off[i] + len[i])
				fuzz_fail("keyslot %llu: area overlaps another",
					  (unsigned long long)id);
	}
}

/* The layout on a device of `dev` bytes, against the arithmetic the
 * formats define: LUKS1 and dynamic LUKS2 segments take whole sectors up to
 * the end of the device, fixed LUKS2 segments must fit. */
static void layout_check(const struct luks_header *hdr, const struct described *m, uint64_t dev)
{
	struct volume_layout l;
	struct luks_err err = {{0}};
	uint64_t want = 0;
	int rc = luks_layout(hdr, dev, &l, &err);

	if (m->data_size)
		want = m->data_offset <= dev && m->data_size <= dev - m->data_offset ? m->data_size
										     : 0;
	else if (dev > m->data_offset)
		want = (dev - m->data_offset) / m->sector_size * m->sector_size;
	if (rc) {
		err_check(rc, &err, "layout", true);
		if (want)
			fuzz_fail("layout on %llu bytes refused: %s", (unsigned long long)dev,
				  err.msg);
		return;
	}
	if (!want)
		fuzz_fail("layout on %llu bytes accepted, with no data", (unsigned long long)dev);
	if (l.size != want || l.data_offset != m->data_offset || l.sector_size != m->sector_size)
		fuzz_fail("layout on %llu bytes: %llu+%llu/%u, want %llu+%llu/%llu",
			  (unsigned long long)dev, (unsigned long long)l.data_offset,
			  (unsigned long long)l.size, l.sector_size,
			  (unsigned long long)m->data_offset, (unsigned long long)want,
			  (unsigned long long)m->sector_size);
	if (l.iv_tweak != m->iv_tweak || l.allow_discards != m->allow_discards || l.key_slot != 0 ||
	    l.iv_large_sectors)
		fuzz_fail("layout: tweak, discards, key slot or IV mode differ from the header");
}

static bool int_at_most(json_object *o, const char *key, int64_t cap)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_int) &&
	       json_object_get_int64(v) <= cap;
}

static bool kdf_cheap(json_object *kdf, const char *iter_key)
{
	json_object *type;

	if (!json_object_object_get_ex(kdf, "type", &type))
		return false;
	if (!strcmp(json_object_get_string(type), "pbkdf2"))
		return int_at_most(kdf, iter_key, CAP_PBKDF2_ITER);
	return int_at_most(kdf, "time", CAP_ARGON2_TIME) &&
	       int_at_most(kdf, "memory", CAP_ARGON2_KIB) &&
	       int_at_most(kdf, "cpus", CAP_ARGON2_CPUS);
}

/* LUKS2: the costs are in the active copy's JSON (the description lacks
 * the digests' iterations), read back from the image. */
static bool luks2_cheap(const struct luks_io *io, const struct described *m)
{
	size_t len = (size_t)m->hdr_size - 4096;
	char *text = len < JSON_AREA_MAX ? malloc(len + 1) : NULL;
	json_object *root = NULL, *kss, *dgs, *kdf;
	bool cheap = false;

	if (!text || io->read(io->priv, text, len, m->active_offset + 4096))
		goto out;
	text[len] = '\0';
	root = json_tokener_parse(text);
	if (!root || !json_object_object_get_ex(root, "keyslots", &kss) ||
	    !json_object_object_get_ex(root, "digests", &dgs) ||
	    !json_object_is_type(kss, json_type_object) ||
	    !json_object_is_type(dgs, json_type_object))
		goto out;
	cheap = true;
	json_object_object_foreach(kss, kid, ks)
	{
		(void)kid;
		if (!json_object_object_get_ex(ks, "kdf", &kdf) || !kdf_cheap(kdf, "iterations"))
			cheap = false;
	}
	json_object_object_foreach(dgs, did, dg)
	{
		(void)did;
		if (!int_at_most(dg, "iterations", CAP_DIGEST_ITER))
			cheap = false;
	}
out:
	json_object_put(root);
	free(text);
	return cheap;
}

static bool luks1_cheap(json_object *d, const struct described *m)
{
	if (!int_at_most(d, "mk_iterations", CAP_DIGEST_ITER))
		return false;
	for (size_t i = 0; i < json_object_array_length(m->slots); i++) {
		json_object *kdf =
		    jget(json_object_array_get_idx(m->slots, i), "kdf", json_type_object);

		if (!kdf_cheap(kdf, "iterations"))
			return false;
	}
	return true;
}

static void unlock_check(const struct luks_io *io, const struct luks_header *hdr,
			 const struct described *m)
{
	struct luks_key *key = NULL;
	struct luks_err err = {{0}};
	int slot = -1;
	int rc = luks_unlock(io, hdr, FUZZ_PASSPHRASE, strlen(FUZZ_PASSPHRASE), &key, &slot, &err);

	if (rc) {
		err_check(rc, &err, "unlock", false);
		return;
	}
	if (slot < 0 || slot >= (m->version == 1 ? 8 : KEYSLOTS_MAX) || !key ||
	    key->len != m->key_size)
		fuzz_fail("unlock: slot %d, key of %zu bytes", slot, key ? key->len : 0);
	luks_key_free(key);
}

void fuzz_luks_exercise(const struct luks_io *io, bool unlock)
{
	static const uint64_t extra[LAYOUT_PROBES - 1] = {0,	    512,       4096,
							  1u << 20, 16u << 20, UINT64_MAX};
	struct luks_header *hdr = NULL;
	struct luks_err err = {{0}};
	struct described m;
	json_object *d;
	char *text = NULL;
	int rc = luks_load(io, &hdr, &err);

	if (rc) {
		err_check(rc, &err, "load", true);
		return;
	}
	rc = luks_describe(hdr, &text, &err);
	if (rc)
		fuzz_fail("describe of a loaded header failed: %d %s", rc, err.msg);
	d = json_tokener_parse(text);
	if (!d || !json_object_is_type(d, json_type_object))
		fuzz_fail("describe: not a JSON object: %s", text);
	describe_header(d, &m);
	if (m.version != luks_version(hdr))
		fuzz_fail("describe: version %d, header %d", m.version, luks_version(hdr));
	header_check(&m);
	keyslots_check(&m);
	layout_check(hdr, &m, io->size);
	layout_check(hdr, &m, m.data_offset);
	layout_check(hdr, &m, m.data_offset + m.sector_size);
	for (int i = 0; i < LAYOUT_PROBES - 1; i++)
		layout_check(hdr, &m, extra[i]);
	if (unlock && (m.version == 1 ? luks1_cheap(d, &m) : luks2_cheap(io, &m)))
		unlock_check(io, hdr, &m);
	json_object_put(d);
	free(text);
	luks_free(hdr);
}
