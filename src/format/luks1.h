/* LUKS1 inside the format module: the 592-byte header and its keyslots. */
#ifndef CRYPTBLK_FORMAT_LUKS1_H
#define CRYPTBLK_FORMAT_LUKS1_H

#include <cryptblk/luks.h>
#include <json-c/json.h>

struct luks1_hdr;

int luks1_load(const struct luks_io *io, struct luks1_hdr **out, struct luks_err *err);
void luks1_free(struct luks1_hdr *hdr);
int luks1_unlock(const struct luks_io *io, const struct luks1_hdr *hdr, const void *pass,
		 size_t pass_len, struct luks_key **key, int *slot, struct luks_err *err);
int luks1_layout(const struct luks1_hdr *hdr, uint64_t dev_size, struct volume_layout *layout,
		 struct luks_err *err);
int luks1_describe(const struct luks1_hdr *hdr, json_object *out);
int luks1_format(const struct luks_io *io, const struct luks_format_params *params,
		 const void *pass, size_t pass_len, struct luks_err *err);
int luks1_keyslot_add(const struct luks_io *io, const struct luks1_hdr *hdr, const void *pass,
		      size_t pass_len, const void *new_pass, size_t new_len,
		      const struct luks_kdf_choice *kdf, int *slot, struct luks_err *err);
int luks1_keyslot_remove(const struct luks_io *io, const struct luks1_hdr *hdr, const void *pass,
			 size_t pass_len, int *slot, struct luks_err *err);

#endif
