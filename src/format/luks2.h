/* LUKS2 inside the format module: the loaded header and its operations. */
#ifndef CRYPTBLK_FORMAT_LUKS2_H
#define CRYPTBLK_FORMAT_LUKS2_H

#include "luks2_disk.h"
#include "luks2_meta.h"

#include <cryptblk/luks.h>
#include <json-c/json.h>

#define LUKS2_DATA_OFFSET_DEFAULT (16ull << 20)
#define LUKS2_DIGEST_ITER_MS	  125 /* volume-key digest cost, as cryptsetup */

struct luks2_hdr {
	struct luks2_copy copies[2];
	int active;	   /* the copy in use */
	json_object *root; /* its JSON tree */
	struct luks2_meta meta;
};

int luks2_load(const struct luks_io *io, struct luks2_hdr **out, struct luks_err *err);
void luks2_free(struct luks2_hdr *hdr);

int luks2_layout(const struct luks2_hdr *hdr, uint64_t dev_size, struct volume_layout *layout,
		 struct luks_err *err);
int luks2_describe(const struct luks2_hdr *hdr, json_object *out);

/* luks2_keyslot.c */
int luks2_unlock(const struct luks_io *io, const struct luks2_hdr *hdr, const void *pass,
		 size_t pass_len, struct luks_key **key, int *slot, struct luks_err *err);
json_object *luks2_keyslot_json(const struct luks2_keyslot *ks);
void luks2_json_add_u64str(json_object *o, const char *key, uint64_t v);
void luks2_json_add_b64(json_object *o, const char *key, const uint8_t *data, size_t len);
/* Does `key` match the volume-key digest? 0, -ENOKEY, or another error. */
int luks2_digest_verify(const struct luks2_digest *dg, const struct luks_key *key);

/* luks2_write.c */
int luks2_format(const struct luks_io *io, const struct luks_format_params *params,
		 const void *pass, size_t pass_len, struct luks_err *err);
int luks2_keyslot_add(const struct luks_io *io, const struct luks2_hdr *hdr, const void *pass,
		      size_t pass_len, const void *new_pass, size_t new_len,
		      const struct luks_kdf_choice *kdf, int *slot, struct luks_err *err);
int luks2_keyslot_remove(const struct luks_io *io, const struct luks2_hdr *hdr, const void *pass,
			 size_t pass_len, int *slot, struct luks_err *err);

#endif
