/* LUKS2 and LUKS1 volumes: read, unlock, format, add and remove passphrases.
 *
 * The library never prints. Every function that can fail returns 0 or a
 * negative errno and, when `err` is not NULL, leaves one line in err->msg
 * that starts with what failed and names the field:
 *   "luks2: keyslot 3: area outside the keyslots area"
 * -ENOKEY means no keyslot opens with the passphrase; -EINVAL (and -EPROTO,
 * -E2BIG, -ERANGE, -ENOTSUP) mean corrupt or unsupported metadata.
 *
 * Storage is reached through `struct luks_io`, synchronously: unlocking
 * happens before any event loop runs. A header that does not validate is
 * never written over.
 */
#ifndef CRYPTBLK_LUKS_H
#define CRYPTBLK_LUKS_H

#include <cryptblk/volume.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LUKS_ERR_MAX 320
#define LUKS_KEY_MAX 64 /* bytes of volume key: AES-256-XTS */

struct luks_err {
	char msg[LUKS_ERR_MAX];
};

/* Synchronous access to the storage under the volume. read/write transfer
 * the whole length or fail with a negative errno. write and sync are NULL
 * for read-only storage. */
struct luks_io {
	uint64_t size; /* bytes */
	int (*read)(void *priv, void *buf, size_t len, uint64_t off);
	int (*write)(void *priv, const void *buf, size_t len, uint64_t off);
	int (*sync)(void *priv);
	void *priv;
};

/* Storage on a file descriptor (regular file or block device); `writable`
 * chooses whether write/sync are set. The fd stays the caller's. */
int luks_io_init_fd(struct luks_io *io, int fd, bool writable);

/* A volume key in locked memory (secmem). */
struct luks_key {
	size_t len;
	uint8_t bytes[LUKS_KEY_MAX];
};
struct luks_key *luks_key_new(size_t len);
void luks_key_free(struct luks_key *key);

/* Parsed and validated metadata of either version. */
struct luks_header;

/* Read and validate the metadata. For LUKS2 both header copies are read;
 * the valid one with the higher seqid wins, as in cryptsetup. */
int luks_load(const struct luks_io *io, struct luks_header **out, struct luks_err *err);
void luks_free(struct luks_header *hdr);
int luks_version(const struct luks_header *hdr);

/* Try every usable keyslot with the passphrase. On success *key holds the
 * volume key (free with luks_key_free) and *slot the keyslot that opened.
 * -ENOKEY when none opens. */
int luks_unlock(const struct luks_io *io, const struct luks_header *hdr, const void *pass,
		size_t pass_len, struct luks_key **key, int *slot, struct luks_err *err);

/* Where the data segment lies on storage of `dev_size` bytes (key_slot 0). */
int luks_layout(const struct luks_header *hdr, uint64_t dev_size, struct volume_layout *layout,
		struct luks_err *err);

/* A description of the metadata as a JSON text (malloc'ed, caller frees):
 * version, uuid, label, cipher, key size, sector size, offsets, keyslots,
 * and the state of each header copy. */
int luks_describe(const struct luks_header *hdr, char **json_text, struct luks_err *err);

enum luks_kdf_type {
	LUKS_KDF_DEFAULT = 0, /* argon2id for LUKS2, pbkdf2 for LUKS1 */
	LUKS_KDF_PBKDF2,
	LUKS_KDF_ARGON2I,
	LUKS_KDF_ARGON2ID,
};

/* How a new keyslot's passphrase is hashed. Costs left 0 are calibrated to
 * iter_time_ms (default 2000); forced costs skip the calibration. */
struct luks_kdf_choice {
	enum luks_kdf_type type;
	uint32_t iter_time_ms;
	uint32_t iterations; /* pbkdf2 iterations or argon2 time cost */
	uint32_t memory_kib; /* argon2 */
	uint32_t parallel;   /* argon2 */
};

struct luks_format_params {
	int version;	      /* 2 (default when 0) or 1 */
	const char *cipher;   /* NULL: "aes-xts-plain64", the only one supported */
	uint32_t key_size;    /* bytes: 32 or 64 (0: 64) */
	uint32_t sector_size; /* 512 or 4096; 0: 4096 when the data area allows */
	const char *label;    /* LUKS2 only; NULL: none */
	struct luks_kdf_choice kdf;
	/* The volume key to use (key_size bytes; 0 key_size: its length);
	 * NULL: a random one. Halves that are equal are refused. */
	const struct luks_key *volume_key;
};

/* Write a new volume over the start of the storage: wipe the metadata area,
 * write keyslot 0 with the passphrase, then the header (LUKS2: copy 1, then
 * copy 2). The storage must be larger than the metadata area. */
int luks_format(const struct luks_io *io, const struct luks_format_params *params, const void *pass,
		size_t pass_len, struct luks_err *err);

/* Add a keyslot for `new_pass`, unlocking with `pass`. The new keyslot's
 * material is written and synced before the header that points at it.
 * *slot receives the new keyslot's number. `hdr` is stale afterwards. */
int luks_keyslot_add(const struct luks_io *io, const struct luks_header *hdr, const void *pass,
		     size_t pass_len, const void *new_pass, size_t new_len,
		     const struct luks_kdf_choice *kdf, int *slot, struct luks_err *err);

/* Remove the keyslot that `pass` opens: the header without it is written
 * first, then its key material is wiped. The last keyslot is refused
 * (-EPERM). `hdr` is stale afterwards. */
int luks_keyslot_remove(const struct luks_io *io, const struct luks_header *hdr, const void *pass,
			size_t pass_len, int *slot, struct luks_err *err);

#endif
