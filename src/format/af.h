/* The anti-forensic splitter of LUKS: a key is spread over `stripes` blocks
 * so that destroying any part of the material destroys the key. */
#ifndef CRYPTBLK_FORMAT_AF_H
#define CRYPTBLK_FORMAT_AF_H

#include <stddef.h>
#include <stdint.h>

#define AF_STRIPES 4000 /* the only count LUKS uses */

/* Bytes of material for a key: key_len * stripes. */
size_t af_split_size(size_t key_len, uint32_t stripes);

/* Spread key over `out` (af_split_size bytes), with random stripes. */
int af_split(const uint8_t *key, size_t key_len, uint32_t stripes, const char *hash, uint8_t *out);
/* Recover the key from the material. */
int af_merge(const uint8_t *material, size_t key_len, uint32_t stripes, const char *hash,
	     uint8_t *key);

#endif
