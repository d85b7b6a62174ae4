/* The public face of the format module: which version, then delegate. */
#include "err.h"
#include "luks1.h"
#include "luks2.h"

#include <cryptblk/luks.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

struct luks_header {
	int version;
	struct luks1_hdr *v1;
	struct luks2_hdr *v2;
};

int luks_load(const struct luks_io *io, struct luks_header **out, struct luks_err *err)
{
	struct luks_header *hdr;
	uint8_t first[8] = {0};
	int rc;

	luks_err_clear(err);
	if (io->size < sizeof(first))
		return luks_err_set(err, -EINVAL, "luks: device of %llu bytes holds no header",
				    (unsigned long long)io->size);
	rc = io->read(io->priv, first, sizeof(first), 0);
	if (rc)
		return luks_err_set(err, rc, "luks: reading the header failed");
	hdr = calloc(1, sizeof(*hdr));
	if (!hdr)
		return luks_err_set(err, -ENOMEM, "luks: out of memory");
	/* A primary that says version 1 is LUKS1; anything else may still be a
	 * LUKS2 volume whose secondary header survives. */
	hdr->version = luks_disk_probe_version(first) == 1 ? 1 : 2;
	if (hdr->version == 1)
		rc = luks1_load(io, &hdr->v1, err);
	else
		rc = luks2_load(io, &hdr->v2, err);
	if (rc) {
		free(hdr);
		return rc;
	}
	*out = hdr;
	return 0;
}

void luks_free(struct luks_header *hdr)
{
	if (!hdr)
		return;
	luks1_free(hdr->v1);
	luks2_free(hdr->v2);
	free(hdr);
}

int luks_version(const struct luks_header *hdr)
{
	return hdr->version;
}

int luks_unlock(const struct luks_io *io, const struct luks_header *hdr, const void *pass,
		size_t pass_len, struct luks_key **key, int *slot, struct luks_err *err)
{
	luks_err_clear(err);
	if (hdr->version == 1)
		return luks1_unlock(io, hdr->v1, pass, pass_len, key, slot, err);
	return luks2_unlock(io, hdr->v2, pass, pass_len, key, slot, err);
}

int luks_layout(const struct luks_header *hdr, uint64_t dev_size, struct volume_layout *layout,
		struct luks_err *err)
{
	luks_err_clear(err);
	if (hdr->version == 1)
		return luks1_layout(hdr->v1, dev_size, layout, err);
	return luks2_layout(hdr->v2, dev_size, layout, err);
}

int luks_describe(const struct luks_header *hdr, char **json_text, struct luks_err *err)
{
	json_object *o = json_object_new_object();
	const char *text;
	int rc;

	luks_err_clear(err);
	if (!o)
		return luks_err_set(err, -ENOMEM, "luks: out of memory");
	if (hdr->version == 1)
		rc = luks1_describe(hdr->v1, o);
	else
		rc = luks2_describe(hdr->v2, o);
	text = rc ? NULL
		  : json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							  JSON_C_TO_STRING_NOSLASHESCAPE);
	if (rc == 0 && (!text || !(*json_text = strdup(text))))
		rc = -ENOMEM;
	json_object_put(o);
	if (rc)
		return luks_err_set(err, rc, "luks: out of memory");
	return 0;
}

int luks_format(const struct luks_io *io, const struct luks_format_params *params, const void *pass,
		size_t pass_len, struct luks_err *err)
{
	struct luks_format_params p = *params;

	luks_err_clear(err);
	if (!p.cipher)
		p.cipher = "aes-xts-plain64";
	if (!p.key_size)
		p.key_size = p.volume_key ? (uint32_t)p.volume_key->len : 64;
	if (p.volume_key && p.volume_key->len != p.key_size)
		return luks_err_set(err, -EINVAL, "luks: volume key of %zu bytes for a %u-bit key",
				    p.volume_key->len, p.key_size * 8);
	/* XTS needs two independent halves; the engines refuse equal ones. */
	if (p.volume_key && p.volume_key->len % 2 == 0 &&
	    !CRYPTO_memcmp(p.volume_key->bytes, p.volume_key->bytes + p.volume_key->len / 2,
			   p.volume_key->len / 2))
		return luks_err_set(err, -EINVAL, "luks: volume key halves are equal");
	if (!p.version)
		p.version = 2;
	if (p.version == 1)
		return luks1_format(io, &p, pass, pass_len, err);
	if (p.version == 2)
		return luks2_format(io, &p, pass, pass_len, err);
	return luks_err_set(err, -EINVAL, "luks: version %d unknown", p.version);
}

int luks_keyslot_add(const struct luks_io *io, const struct luks_header *hdr, const void *pass,
		     size_t pass_len, const void *new_pass, size_t new_len,
		     const struct luks_kdf_choice *kdf, int *slot, struct luks_err *err)
{
	luks_err_clear(err);
	if (hdr->version == 1)
		return luks1_keyslot_add(io, hdr->v1, pass, pass_len, new_pass, new_len, kdf, slot,
					 err);
	return luks2_keyslot_add(io, hdr->v2, pass, pass_len, new_pass, new_len, kdf, slot, err);
}

int luks_keyslot_remove(const struct luks_io *io, const struct luks_header *hdr, const void *pass,
			size_t pass_len, int *slot, struct luks_err *err)
{
	luks_err_clear(err);
	if (hdr->version == 1)
		return luks1_keyslot_remove(io, hdr->v1, pass, pass_len, slot, err);
	return luks2_keyslot_remove(io, hdr->v2, pass, pass_len, slot, err);
}
