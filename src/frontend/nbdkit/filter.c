/* nbdkit-cryptblk-filter: a LUKS2/LUKS1 volume on the plugin below, served
 * as plaintext. Options, the per-connection handle and the data path.
 *
 * Every request runs on the nbdkit thread that received it: ciphertext is
 * read from and written to the plugin with next->pread/pwrite on that
 * thread, and the crypto is handed to the engine thread (driver.c), which
 * this thread waits for. Unaligned edges are read, decrypted, merged and
 * written back under a range lock of the sectors touched (rangelock.c);
 * reads take no lock, as in the NBD server. */
#include "cbf.h"

#include <cryptblk/secmem.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CBF_SLICE	   (4u << 20) /* bytes of a write encrypted and written at once */
#define CBF_PASSPHRASE_MAX (1u << 20)

struct cbf_handle {
	struct volume_layout layout;
	struct cbf_driver *drv;
};

static struct cbf_rangelock cbf_locks;

/* ---- options ---- */

static int cbf_parse_kdf(const char *key, const char *value)
{
	struct luks_kdf_choice *kdf = &cbf_cfg.format.kdf;

	if (!strcmp(key, "cryptblk-pbkdf")) {
		if (!strcmp(value, "pbkdf2"))
			kdf->type = LUKS_KDF_PBKDF2;
		else if (!strcmp(value, "argon2i"))
			kdf->type = LUKS_KDF_ARGON2I;
		else if (!strcmp(value, "argon2id"))
			kdf->type = LUKS_KDF_ARGON2ID;
		else {
			nbdkit_error("cryptblk: cryptblk-pbkdf=%s: not pbkdf2, argon2i or argon2id",
				     value);
			return -1;
		}
		return 0;
	}
	if (!strcmp(key, "cryptblk-pbkdf-force-iterations"))
		return nbdkit_parse_uint32_t(key, value, &kdf->iterations);
	if (!strcmp(key, "cryptblk-pbkdf-memory"))
		return nbdkit_parse_uint32_t(key, value, &kdf->memory_kib);
	if (!strcmp(key, "cryptblk-iter-time"))
		return nbdkit_parse_uint32_t(key, value, &kdf->iter_time_ms);
	return 1;
}

static int cbf_parse_format(const char *key, const char *value)
{
	if (!strcmp(key, "cryptblk-format")) {
		if (!strcmp(value, "luks2"))
			cbf_cfg.format_version = 2;
		else if (!strcmp(value, "luks1"))
			cbf_cfg.format_version = 1;
		else {
			nbdkit_error("cryptblk: cryptblk-format=%s: not luks2 or luks1", value);
			return -1;
		}
		cbf_cfg.format.version = cbf_cfg.format_version;
		return 0;
	}
	if (!strcmp(key, "cryptblk-sector-size")) {
		if (nbdkit_parse_uint32_t(key, value, &cbf_cfg.format.sector_size) == -1)
			return -1;
		if (cbf_cfg.format.sector_size != 512 && cbf_cfg.format.sector_size != 4096) {
			nbdkit_error("cryptblk: cryptblk-sector-size=%s: not 512 or 4096", value);
			return -1;
		}
		return 0;
	}
	return cbf_parse_kdf(key, value);
}

static int cbf_config(nbdkit_next_config *next, nbdkit_backend *nxdata, const char *key,
		      const char *value)
{
	int rc;

	if (!strcmp(key, "cryptblk-key-file")) {
		free(cbf_cfg.key_file);
		cbf_cfg.key_file = nbdkit_absolute_path(value);
		return cbf_cfg.key_file ? 0 : -1;
	}
	if (!strcmp(key, "cryptblk-crypto")) {
		cbf_cfg.crypto = value;
		return 0;
	}
	rc = cbf_parse_format(key, value);
	if (rc <= 0)
		return rc;
	return next(nxdata, key, value);
}

/* The whole file is the passphrase (cryptsetup's --key-file: no newline
 * stripped), read into locked memory. */
static int cbf_read_key_file(void)
{
	struct stat st;
	size_t cap = 0, len = 0;
	int fd = open(cbf_cfg.key_file, O_RDONLY | O_CLOEXEC);
	uint8_t *buf = NULL;
	int rc = -1;

	if (fd < 0 || fstat(fd, &st) != 0) {
		nbdkit_error("cryptblk: cryptblk-key-file %s: %s", cbf_cfg.key_file,
			     strerror(errno));
		goto out;
	}
	if (st.st_size > CBF_PASSPHRASE_MAX) {
		nbdkit_error("cryptblk: cryptblk-key-file %s: larger than %u bytes",
			     cbf_cfg.key_file, CBF_PASSPHRASE_MAX);
		goto out;
	}
	cap = (size_t)st.st_size + 1;
	buf = secmem_alloc(cap);
	if (!buf) {
		nbdkit_error("cryptblk: cryptblk-key-file %s: locked memory: %s", cbf_cfg.key_file,
			     strerror(errno));
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, cap - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			nbdkit_error("cryptblk: cryptblk-key-file %s: %s", cbf_cfg.key_file,
				     strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == cap) {
			nbdkit_error("cryptblk: cryptblk-key-file %s: grew while read",
				     cbf_cfg.key_file);
			goto out;
		}
	}
	if (len == 0) {
		nbdkit_error("cryptblk: cryptblk-key-file %s: empty", cbf_cfg.key_file);
		goto out;
	}
	cbf_cfg.pass = buf;
	cbf_cfg.pass_len = len;
	cbf_cfg.pass_cap = cap;
	buf = NULL;
	rc = 0;
out:
	secmem_free(buf, cap);
	if (fd >= 0)
		close(fd);
	return rc;
}

static void cbf_pass_free(void)
{
	secmem_free(cbf_cfg.pass, cbf_cfg.pass_cap);
	cbf_cfg.pass = NULL;
	cbf_cfg.pass_len = cbf_cfg.pass_cap = 0;
}

static int cbf_config_complete(nbdkit_next_config_complete *next, nbdkit_backend *nxdata)
{
	struct crypto_engine *engine = NULL;
	int rc;

	if (!cbf_cfg.key_file) {
		nbdkit_error("cryptblk: cryptblk-key-file=FILE is required");
		return -1;
	}
	/* Refuse a bad engine spec or key file at start-up rather than at
	 * the first connection. */
	rc = crypto_engine_open(cbf_cfg.crypto, &engine);
	if (rc) {
		nbdkit_error("cryptblk: cryptblk-crypto=%s: %s", cbf_cfg.crypto, strerror(-rc));
		return -1;
	}
	crypto_engine_close(engine);
	if (cbf_read_key_file())
		return -1;
	/* Locked memory is not inherited by fork() (secmem asks for
	 * MADV_DONTFORK): the server process reads it again in after_fork. */
	cbf_pass_free();
	return next(nxdata);
}

/* Runs in the process that serves, after nbdkit went to the background
 * (or at once with -f / --run). */
static int cbf_after_fork(nbdkit_backend *nxdata)
{
	(void)nxdata;
	return cbf_read_key_file();
}

static void cbf_load(void)
{
	cbf_rangelock_init(&cbf_locks);
}

static void cbf_unload(void)
{
	cbf_volume_unload();
	free(cbf_cfg.key_file);
	cbf_cfg.key_file = NULL;
}

static int cbf_thread_model(void)
{
	return NBDKIT_THREAD_MODEL_PARALLEL;
}

/* ---- connections ---- */

static void *cbf_open(nbdkit_next_open *next, nbdkit_context *nxdata, int readonly,
		      const char *exportname, int is_tls)
{
	struct cbf_handle *h;

	(void)is_tls;
	if (next(nxdata, readonly, exportname) == -1)
		return NULL;
	h = calloc(1, sizeof(*h));
	if (!h)
		nbdkit_error("cryptblk: out of memory");
	return h;
}

static void cbf_close(void *handle)
{
	free(handle);
}

static int cbf_prepare(nbdkit_next *next, void *handle, int readonly)
{
	struct cbf_handle *h = handle;

	return cbf_volume_prepare(next, readonly, &h->layout, &h->drv);
}

static int64_t cbf_get_size(nbdkit_next *next, void *handle)
{
	struct cbf_handle *h = handle;

	(void)next;
	return (int64_t)h->layout.size;
}

static int cbf_block_size(nbdkit_next *next, void *handle, uint32_t *minimum, uint32_t *preferred,
			  uint32_t *maximum)
{
	struct cbf_handle *h = handle;

	(void)next;
	/* Any alignment works (read-modify-write at the edges); whole
	 * sectors avoid it. */
	*minimum = 1;
	*preferred = h->layout.sector_size > 4096 ? h->layout.sector_size : 4096;
	*maximum = 0xffffffff;
	return 0;
}

static int cbf_can_zero(nbdkit_next *next, void *handle)
{
	(void)next, (void)handle;
	return NBDKIT_ZERO_NATIVE; /* encrypted zeros, written by cbf_zero */
}

static int cbf_can_fast_zero(nbdkit_next *next, void *handle)
{
	(void)next, (void)handle;
	return 0; /* encrypted zeros cost a write */
}

static int cbf_can_trim(nbdkit_next *next, void *handle)
{
	(void)next, (void)handle;
	return 1; /* advisory: passed on only when the volume allows discards */
}

static int cbf_can_extents(nbdkit_next *next, void *handle)
{
	(void)next, (void)handle;
	return 0; /* a hole below is not a hole in the plaintext */
}

static int cbf_can_cache(nbdkit_next *next, void *handle)
{
	(void)next, (void)handle;
	return NBDKIT_CACHE_NONE;
}

/* ---- data ---- */

static uint64_t cbf_down(const struct cbf_handle *h, uint64_t off)
{
	return off & ~(uint64_t)(h->layout.sector_size - 1);
}

static uint64_t cbf_up(const struct cbf_handle *h, uint64_t off)
{
	return cbf_down(h, off + h->layout.sector_size - 1);
}

static int cbf_fail_crypto(const char *what, uint64_t off, int rc, int *err)
{
	nbdkit_error("cryptblk: %s at offset %" PRIu64 ": %s", what, off, strerror(-rc));
	*err = -rc;
	return -1;
}

/* Whole sectors [off, off+len) of plaintext into buf. */
static int cbf_read_sectors(nbdkit_next *next, struct cbf_handle *h, uint8_t *buf, uint64_t len,
			    uint64_t off, int *err)
{
	int rc;

	if (next->pread(next, buf, (uint32_t)len, h->layout.data_offset + off, 0, err) == -1)
		return -1;
	rc = cbf_crypt(h->drv, &h->layout, CRYPTO_DECRYPT, buf, buf, len, off);
	return rc ? cbf_fail_crypto("decrypt", off, rc, err) : 0;
}

static int cbf_pread(nbdkit_next *next, void *handle, void *buf, uint32_t count, uint64_t offset,
		     uint32_t flags, int *err)
{
	struct cbf_handle *h = handle;
	uint64_t a0 = cbf_down(h, offset), a1 = cbf_up(h, offset + count);
	uint8_t *bounce;
	int rc;

	(void)flags;
	if (a0 == offset && a1 == offset + count)
		return cbf_read_sectors(next, h, buf, count, offset, err);
	bounce = malloc(a1 - a0);
	if (!bounce) {
		*err = ENOMEM;
		nbdkit_error("cryptblk: read of %" PRIu32 " bytes: out of memory", count);
		return -1;
	}
	rc = cbf_read_sectors(next, h, bounce, a1 - a0, a0, err);
	if (rc == 0)
		memcpy(buf, bounce + (offset - a0), count);
	free(bounce);
	return rc;
}

/* One slice [s0, s1) of whole sectors of a write of [off, end): plaintext
 * into `bounce` (partial edge sectors read first), encrypted in place,
 * written. `src` is the request's data from `off`, NULL for zeros. */
static int cbf_write_slice(nbdkit_next *next, struct cbf_handle *h, uint8_t *bounce, uint64_t s0,
			   uint64_t s1, const uint8_t *src, uint64_t off, uint64_t end,
			   uint32_t flags, int *err)
{
	uint32_t ss = h->layout.sector_size;
	uint64_t c0 = off > s0 ? off : s0, c1 = end < s1 ? end : s1;
	int rc;

	if (c0 > s0 && cbf_read_sectors(next, h, bounce, ss, s0, err))
		return -1;
	if (c1 < s1 && (s1 - ss > s0 || c0 == s0) &&
	    cbf_read_sectors(next, h, bounce + (s1 - ss - s0), ss, s1 - ss, err))
		return -1;
	if (src)
		memcpy(bounce + (c0 - s0), src + (c0 - off), c1 - c0);
	else
		memset(bounce + (c0 - s0), 0, c1 - c0);
	rc = cbf_crypt(h->drv, &h->layout, CRYPTO_ENCRYPT, bounce, bounce, s1 - s0, s0);
	if (rc)
		return cbf_fail_crypto("encrypt", s0, rc, err);
	return next->pwrite(next, bounce, (uint32_t)(s1 - s0), h->layout.data_offset + s0,
			    flags & NBDKIT_FLAG_FUA, err);
}

/* A write or a zero of [off, off+len), under the lock of its sectors. */
static int cbf_write(nbdkit_next *next, struct cbf_handle *h, const uint8_t *src, uint64_t len,
		     uint64_t off, uint32_t flags, int *err)
{
	uint64_t a0 = cbf_down(h, off), a1 = cbf_up(h, off + len);
	uint64_t cap = a1 - a0 < CBF_SLICE ? a1 - a0 : CBF_SLICE;
	struct cbf_range range;
	uint8_t *bounce = malloc(cap);
	int rc = 0;

	if (!bounce) {
		*err = ENOMEM;
		nbdkit_error("cryptblk: write of %" PRIu64 " bytes: out of memory", len);
		return -1;
	}
	cbf_range_lock(&cbf_locks, &range, a0, a1);
	for (uint64_t s0 = a0; s0 < a1 && rc == 0; s0 += cap) {
		uint64_t s1 = a1 - s0 < cap ? a1 : s0 + cap;

		rc = cbf_write_slice(next, h, bounce, s0, s1, src, off, off + len, flags, err);
	}
	cbf_range_unlock(&cbf_locks, &range);
	free(bounce);
	return rc;
}

static int cbf_pwrite(nbdkit_next *next, void *handle, const void *buf, uint32_t count,
		      uint64_t offset, uint32_t flags, int *err)
{
	return cbf_write(next, handle, buf, count, offset, flags, err);
}

static int cbf_zero(nbdkit_next *next, void *handle, uint32_t count, uint64_t offset,
		    uint32_t flags, int *err)
{
	if (flags & NBDKIT_FLAG_FAST_ZERO) {
		*err = ENOTSUP;
		return -1;
	}
	/* A hole below would decrypt to garbage: MAY_TRIM is ignored. */
	return cbf_write(next, handle, NULL, count, offset, flags, err);
}

static int cbf_trim(nbdkit_next *next, void *handle, uint32_t count, uint64_t offset,
		    uint32_t flags, int *err)
{
	struct cbf_handle *h = handle;
	uint64_t a0 = cbf_up(h, offset), a1 = cbf_down(h, offset + count);
	struct cbf_range range;
	int rc;

	/* Advisory: only whole sectors, only when the volume allows
	 * discards (LUKS2 "allow-discards") and the plugin can trim. */
	if (a0 >= a1 || !h->layout.allow_discards || next->can_trim(next) != 1) {
		if ((flags & NBDKIT_FLAG_FUA) && next->can_flush(next) == 1)
			return next->flush(next, 0, err);
		return 0;
	}
	cbf_range_lock(&cbf_locks, &range, a0, a1);
	rc = next->trim(next, (uint32_t)(a1 - a0), h->layout.data_offset + a0,
			flags & NBDKIT_FLAG_FUA, err);
	cbf_range_unlock(&cbf_locks, &range);
	return rc;
}

static int cbf_flush(nbdkit_next *next, void *handle, uint32_t flags, int *err)
{
	(void)handle;
	return next->flush(next, flags, err);
}

static struct nbdkit_filter filter = {
    .name = "cryptblk",
    .longname = "cryptblk LUKS2/LUKS1 filter",
    .description = "serve the plaintext of a LUKS2 or LUKS1 volume on the plugin below",
    .config_help = "cryptblk-key-file=FILE         the passphrase (the whole file; required)\n"
		   "cryptblk-crypto=openssl|threads[:N]  the crypto engine (default openssl)\n"
		   "cryptblk-format=luks2|luks1    format the export at open when it holds no "
		   "LUKS header\n"
		   "cryptblk-sector-size=512|4096  (format) sector size\n"
		   "cryptblk-pbkdf=pbkdf2|argon2i|argon2id  (format) keyslot KDF\n"
		   "cryptblk-pbkdf-force-iterations=N  cryptblk-pbkdf-memory=KIB  "
		   "cryptblk-iter-time=MS",
    .load = cbf_load,
    .unload = cbf_unload,
    .config = cbf_config,
    .config_complete = cbf_config_complete,
    .thread_model = cbf_thread_model,
    .after_fork = cbf_after_fork,
    .open = cbf_open,
    .close = cbf_close,
    .prepare = cbf_prepare,
    .get_size = cbf_get_size,
    .block_size = cbf_block_size,
    .can_zero = cbf_can_zero,
    .can_fast_zero = cbf_can_fast_zero,
    .can_trim = cbf_can_trim,
    .can_extents = cbf_can_extents,
    .can_cache = cbf_can_cache,
    .pread = cbf_pread,
    .pwrite = cbf_pwrite,
    .zero = cbf_zero,
    .trim = cbf_trim,
    .flush = cbf_flush,
};

NBDKIT_REGISTER_FILTER(filter)
