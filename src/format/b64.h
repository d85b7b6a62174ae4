/* Base64 (RFC 4648, with padding) for the salts and digests in LUKS2 JSON. */
#ifndef CRYPTBLK_FORMAT_B64_H
#define CRYPTBLK_FORMAT_B64_H

#include <stddef.h>
#include <stdint.h>

/* Decode the whole of `text` into out (at most `cap` bytes). Returns the
 * decoded length, or -EINVAL for text that is not canonical base64 and
 * -E2BIG when it does not fit. */
int b64_decode(const char *text, uint8_t *out, size_t cap);

/* Encode len bytes; `out` needs b64_encoded_len(len) + 1 bytes. */
size_t b64_encoded_len(size_t len);
void b64_encode(const uint8_t *in, size_t len, char *out);

#endif
