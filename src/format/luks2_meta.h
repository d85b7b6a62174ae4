/* The meaning of a LUKS2 JSON area, after validation: every number checked,
 * every offset inside its area. Built by luks2_json_validate() from the JSON
 * tree, which stays the authority for what gets written back. */
#ifndef CRYPTBLK_FORMAT_LUKS2_META_H
#define CRYPTBLK_FORMAT_LUKS2_META_H

#include "kdf.h"

#include <cryptblk/luks.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#define LUKS2_KEYSLOTS_MAX 32
#define LUKS2_DIGESTS_MAX  32
#define LUKS2_TOKENS_MAX   32
#define LUKS2_CIPHER_MAX   64
#define LUKS2_DIGEST_MAX   64 /* bytes of a stored digest */
#define LUKS2_STRIPES	   4000
#define LUKS2_AREA_ALIGN   4096
/* Keyslots area ceiling: 128 MiB, as cryptsetup's. */
#define LUKS2_KEYSLOTS_SIZE_MAX (128ull << 20)

struct luks2_keyslot {
	bool present;
	uint32_t key_size; /* bytes of volume key */
	int priority;	   /* 0 ignore, 1 normal, 2 prefer */
	struct kdf_params kdf;
	char af_hash[KDF_HASH_NAME_MAX];
	uint32_t stripes;
	uint64_t area_offset;
	uint64_t area_size;
	char area_cipher[LUKS2_CIPHER_MAX];
	uint32_t area_key_size;
	int digest; /* the digest that binds it, or -1 */
};

struct luks2_digest {
	bool present;
	char hash[KDF_HASH_NAME_MAX];
	uint32_t iterations;
	uint8_t salt[KDF_SALT_MAX];
	size_t salt_len;
	uint8_t value[LUKS2_DIGEST_MAX];
	size_t value_len;
	uint32_t keyslots; /* bit i: keyslot i */
	bool segment;	   /* covers the data segment */
};

struct luks2_segment {
	unsigned id;
	uint64_t offset;
	uint64_t size; /* when !dynamic */
	bool dynamic;
	uint64_t iv_tweak;
	char cipher[LUKS2_CIPHER_MAX];
	uint32_t sector_size;
	uint32_t key_size; /* from the keyslots bound to its digest */
};

struct luks2_meta {
	uint64_t hdr_size;
	uint64_t json_size;
	uint64_t keyslots_size;
	bool allow_discards;
	struct luks2_keyslot keyslots[LUKS2_KEYSLOTS_MAX];
	struct luks2_digest digests[LUKS2_DIGESTS_MAX];
	struct luks2_segment segment;
	int segment_digest; /* index of the digest covering the segment */
};

/* Validate the whole tree. hdr_size comes from the binary header, dev_size
 * is the storage's size. On failure err names the field. */
int luks2_json_validate(json_object *root, uint64_t hdr_size, uint64_t dev_size,
			struct luks2_meta *meta, struct luks_err *err);

/* Strict decimal string ("0", "16777216"; no sign, no leading zero). */
int luks2_json_u64_parse(const char *s, uint64_t *v);

#endif
