/* LUKS2: choosing the header copy, the data layout, a description. */
#include "luks2.h"
#include "err.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parse a copy's JSON text; everything after the value must be blank. */
static int json_parse(const char *text, json_object **out)
{
	size_t len = strlen(text);
	json_tokener *tok = json_tokener_new();
	json_object *root;
	size_t used;

	if (!tok)
		return -ENOMEM;
	root = json_tokener_parse_ex(tok, text, (int)len);
	used = json_tokener_get_parse_end(tok);
	if (!root || json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(root);
		json_tokener_free(tok);
		return -EINVAL;
	}
	json_tokener_free(tok);
	for (; used < len; used++)
		if (!isspace((unsigned char)text[used])) {
			json_object_put(root);
			return -EINVAL;
		}
	*out = root;
	return 0;
}

/* Parse and validate one copy's JSON; a failure marks the copy unusable. */
static void copy_validate(const struct luks_io *io, struct luks2_copy *c, json_object **root,
			  struct luks2_meta *meta)
{
	struct luks_err e = {{0}};
	int rc;

	if (c->status)
		return;
	rc = json_parse(c->json, root);
	if (rc) {
		snprintf(c->error, sizeof(c->error),
			 "luks2: %s header at %llu: JSON area unparsable",
			 c->offset ? "secondary" : "primary", (unsigned long long)c->offset);
		c->status = rc;
		return;
	}
	rc = luks2_json_validate(*root, c->bin.hdr_size, io->size, meta, &e);
	if (rc) {
		memcpy(c->error, e.msg, sizeof(c->error));
		c->status = rc;
		json_object_put(*root);
		*root = NULL;
	}
}

static int copies_error(struct luks2_hdr *hdr, struct luks_err *err)
{
	const struct luks2_copy *p = &hdr->copies[0], *s = &hdr->copies[1];

	if (!p->found && !s->found)
		return luks_err_set(err, -EINVAL, "luks2: not a LUKS volume (no header magic)");
	if (!s->found || !strcmp(p->error, s->error))
		return luks_err_set(err, p->status ? p->status : -EINVAL, "%s", p->error);
	if (!p->found)
		return luks_err_set(err, s->status, "%s", s->error);
	return luks_err_set(err, p->status, "%s; %s", p->error, s->error);
}

int luks2_load(const struct luks_io *io, struct luks2_hdr **out, struct luks_err *err)
{
	struct luks2_hdr *hdr = calloc(1, sizeof(*hdr));
	json_object *roots[2] = {NULL, NULL};
	struct luks2_meta *metas = calloc(2, sizeof(*metas));
	int rc = 0, pick = -1;

	if (!hdr || !metas) {
		rc = luks_err_set(err, -ENOMEM, "luks2: out of memory");
		goto out;
	}
	if (io->size < 2 * LUKS2_HDR_SIZE_MIN) {
		rc = luks_err_set(err, -EINVAL,
				  "luks2: device of %llu bytes too small for a LUKS2 header",
				  (unsigned long long)io->size);
		goto out;
	}
	luks2_disk_copies_read(io, hdr->copies);
	for (int i = 0; i < 2; i++) {
		copy_validate(io, &hdr->copies[i], &roots[i], &metas[i]);
		if (hdr->copies[i].status == 0 &&
		    (pick < 0 || hdr->copies[i].bin.seqid > hdr->copies[pick].bin.seqid))
			pick = i;
	}
	if (pick < 0) {
		rc = copies_error(hdr, err);
		goto out;
	}
	hdr->active = pick;
	hdr->root = roots[pick];
	roots[pick] = NULL;
	hdr->meta = metas[pick];
	*out = hdr;
	hdr = NULL;
out:
	json_object_put(roots[0]);
	json_object_put(roots[1]);
	free(metas);
	luks2_free(hdr);
	return rc;
}

void luks2_free(struct luks2_hdr *hdr)
{
	if (!hdr)
		return;
	luks2_copy_release(&hdr->copies[0]);
	luks2_copy_release(&hdr->copies[1]);
	json_object_put(hdr->root);
	free(hdr);
}

int luks2_layout(const struct luks2_hdr *hdr, uint64_t dev_size, struct volume_layout *layout,
		 struct luks_err *err)
{
	const struct luks2_segment *seg = &hdr->meta.segment;
	uint64_t size = seg->size;

	if (seg->dynamic) {
		size = dev_size > seg->offset ? dev_size - seg->offset : 0;
		size -= size % seg->sector_size;
	} else if (seg->offset + seg->size > dev_size) {
		size = 0;
	}
	if (size == 0)
		return luks_err_set(err, -EINVAL,
				    "luks2: segment %u: no data: the device of %llu bytes ends "
				    "before the data",
				    seg->id, (unsigned long long)dev_size);
	memset(layout, 0, sizeof(*layout));
	layout->data_offset = seg->offset;
	layout->size = size;
	layout->sector_size = seg->sector_size;
	layout->iv_tweak = seg->iv_tweak;
	layout->key_slot = 0;
	layout->iv_large_sectors = false;
	layout->allow_discards = hdr->meta.allow_discards;
	return 0;
}

static json_object *kdf_describe(const struct kdf_params *k)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "type", json_object_new_string(kdf_type_name(k->type)));
	if (k->type == KDF_PBKDF2) {
		json_object_object_add(o, "hash", json_object_new_string(k->hash));
		json_object_object_add(o, "iterations", json_object_new_int64(k->iterations));
	} else {
		json_object_object_add(o, "time", json_object_new_int64(k->iterations));
		json_object_object_add(o, "memory", json_object_new_int64(k->memory_kib));
		json_object_object_add(o, "cpus", json_object_new_int64(k->parallel));
	}
	return o;
}

static json_object *keyslot_describe(unsigned id, const struct luks2_keyslot *ks)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_int(id));
	json_object_object_add(o, "key_size", json_object_new_int64(ks->key_size));
	json_object_object_add(o, "priority", json_object_new_int(ks->priority));
	json_object_object_add(o, "cipher", json_object_new_string(ks->area_cipher));
	json_object_object_add(o, "cipher_key_size", json_object_new_int64(ks->area_key_size));
	json_object_object_add(o, "area_offset", json_object_new_uint64(ks->area_offset));
	json_object_object_add(o, "area_size", json_object_new_uint64(ks->area_size));
	json_object_object_add(o, "af_stripes", json_object_new_int64(ks->stripes));
	json_object_object_add(o, "af_hash", json_object_new_string(ks->af_hash));
	json_object_object_add(o, "kdf", kdf_describe(&ks->kdf));
	json_object_object_add(o, "digest", json_object_new_int(ks->digest));
	return o;
}

static json_object *copy_describe(const struct luks2_copy *c)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "offset", json_object_new_uint64(c->offset));
	json_object_object_add(o, "valid", json_object_new_boolean(c->status == 0));
	if (c->status == 0)
		json_object_object_add(o, "seqid", json_object_new_uint64(c->bin.seqid));
	else
		json_object_object_add(o, "error", json_object_new_string(c->error));
	return o;
}

int luks2_describe(const struct luks2_hdr *hdr, json_object *out)
{
	const struct luks2_bin *b = &hdr->copies[hdr->active].bin;
	const struct luks2_meta *m = &hdr->meta;
	json_object *slots = json_object_new_array(), *copies = json_object_new_array();

	json_object_object_add(out, "version", json_object_new_int(2));
	json_object_object_add(out, "uuid", json_object_new_string(b->uuid));
	json_object_object_add(out, "label", json_object_new_string(b->label));
	json_object_object_add(out, "subsystem", json_object_new_string(b->subsystem));
	json_object_object_add(out, "seqid", json_object_new_uint64(b->seqid));
	json_object_object_add(out, "hdr_size", json_object_new_uint64(b->hdr_size));
	json_object_object_add(out, "keyslots_size", json_object_new_uint64(m->keyslots_size));
	json_object_object_add(out, "cipher", json_object_new_string(m->segment.cipher));
	json_object_object_add(out, "key_size", json_object_new_int64(m->segment.key_size));
	json_object_object_add(out, "sector_size", json_object_new_int64(m->segment.sector_size));
	json_object_object_add(out, "data_offset", json_object_new_uint64(m->segment.offset));
	json_object_object_add(out, "data_size",
			       m->segment.dynamic ? json_object_new_string("dynamic")
						  : json_object_new_uint64(m->segment.size));
	json_object_object_add(out, "iv_tweak", json_object_new_uint64(m->segment.iv_tweak));
	json_object_object_add(out, "allow_discards", json_object_new_boolean(m->allow_discards));
	for (unsigned i = 0; i < LUKS2_KEYSLOTS_MAX; i++)
		if (m->keyslots[i].present)
			json_object_array_add(slots, keyslot_describe(i, &m->keyslots[i]));
	json_object_object_add(out, "keyslots", slots);
	json_object_array_add(copies, copy_describe(&hdr->copies[0]));
	json_object_array_add(copies, copy_describe(&hdr->copies[1]));
	json_object_object_add(out, "header_copies", copies);
	json_object_object_add(out, "active_copy", json_object_new_int(hdr->active));
	return 0;
}
