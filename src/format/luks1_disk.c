/* LUKS1 phdr bytes <-> host structure. */
#include "luks1_disk.h"
#include "luks2_disk.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

static bool text_get(char *dst, const char *src, size_t len)
{
	size_t n = strnlen(src, len);

	if (n == len)
		return false;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return true;
}

static void text_put(char *dst, size_t len, const char *src)
{
	memset(dst, 0, len);
	memcpy(dst, src, strnlen(src, len - 1));
}

int luks1_phdr_decode(const struct luks1_phdr_disk *d, struct luks1_phdr *h, const char **field)
{
	memset(h, 0, sizeof(*h));
	*field = "magic";
	if (memcmp(d->magic, luks2_magic_primary, sizeof(d->magic)) != 0)
		return -EINVAL;
	h->version = be16toh(d->version);
	if (!text_get(h->cipher_name, d->cipher_name, sizeof(d->cipher_name))) {
		*field = "cipher_name";
		return -EINVAL;
	}
	if (!text_get(h->cipher_mode, d->cipher_mode, sizeof(d->cipher_mode))) {
		*field = "cipher_mode";
		return -EINVAL;
	}
	if (!text_get(h->hash_spec, d->hash_spec, sizeof(d->hash_spec))) {
		*field = "hash_spec";
		return -EINVAL;
	}
	if (!text_get(h->uuid, d->uuid, sizeof(d->uuid))) {
		*field = "uuid";
		return -EINVAL;
	}
	h->payload_offset = be32toh(d->payload_offset);
	h->key_bytes = be32toh(d->key_bytes);
	memcpy(h->mk_digest, d->mk_digest, sizeof(h->mk_digest));
	memcpy(h->mk_digest_salt, d->mk_digest_salt, sizeof(h->mk_digest_salt));
	h->mk_digest_iterations = be32toh(d->mk_digest_iterations);
	for (int i = 0; i < LUKS1_KEYSLOTS; i++) {
		const struct luks1_keyslot_disk *kd = &d->keyslots[i];
		struct luks1_keyslot *k = &h->keyslots[i];

		k->active = be32toh(kd->active);
		k->iterations = be32toh(kd->iterations);
		memcpy(k->salt, kd->salt, sizeof(k->salt));
		k->material_offset = be32toh(kd->material_offset);
		k->stripes = be32toh(kd->stripes);
	}
	*field = NULL;
	return 0;
}

void luks1_phdr_encode(const struct luks1_phdr *h, struct luks1_phdr_disk *d)
{
	memset(d, 0, sizeof(*d));
	memcpy(d->magic, luks2_magic_primary, sizeof(d->magic));
	d->version = htobe16(h->version);
	text_put(d->cipher_name, sizeof(d->cipher_name), h->cipher_name);
	text_put(d->cipher_mode, sizeof(d->cipher_mode), h->cipher_mode);
	text_put(d->hash_spec, sizeof(d->hash_spec), h->hash_spec);
	text_put(d->uuid, sizeof(d->uuid), h->uuid);
	d->payload_offset = htobe32(h->payload_offset);
	d->key_bytes = htobe32(h->key_bytes);
	memcpy(d->mk_digest, h->mk_digest, sizeof(d->mk_digest));
	memcpy(d->mk_digest_salt, h->mk_digest_salt, sizeof(d->mk_digest_salt));
	d->mk_digest_iterations = htobe32(h->mk_digest_iterations);
	for (int i = 0; i < LUKS1_KEYSLOTS; i++) {
		const struct luks1_keyslot *k = &h->keyslots[i];
		struct luks1_keyslot_disk *kd = &d->keyslots[i];

		kd->active = htobe32(k->active);
		kd->iterations = htobe32(k->iterations);
		memcpy(kd->salt, k->salt, sizeof(kd->salt));
		kd->material_offset = htobe32(k->material_offset);
		kd->stripes = htobe32(k->stripes);
	}
}
