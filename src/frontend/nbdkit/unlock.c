/* The LUKS volume under the filter: its header is read (and, with
 * cryptblk-format, written) through the plugin below, with next->pread and
 * next->pwrite, by the format module's synchronous `struct luks_io`.
 *
 * The filter serves one volume. The first connection that opens it unlocks
 * it, starts the engine with its key and keeps the key (secmem) and the
 * first 4 KiB of the header that opened it; a later connection whose first
 * 4 KiB are the same reuses them without running the KDF again. A header
 * that changed (a keyslot added, say) is unlocked again and must give the
 * same key and layout. Everything here runs under one mutex: connections
 * open one at a time. */
#include "cbf.h"

#include <cryptblk/secmem.h>
#include <errno.h>
#include <string.h>

#define CBF_IDENT_BYTES 4096u	    /* header bytes that identify an unlocked volume */
#define CBF_IO_MAX	(32u << 20) /* largest single next->pread/pwrite */

struct cbf_config cbf_cfg = {.crypto = "openssl"};

static struct {
	pthread_mutex_t mutex;
	struct cbf_driver *drv;
	struct luks_key *key; /* secmem */
	struct volume_layout layout;
	uint8_t ident[CBF_IDENT_BYTES];
	size_t ident_len;
	uint64_t ident_size; /* the export's size when it was unlocked */
} cbf_vol = {.mutex = PTHREAD_MUTEX_INITIALIZER};

static int cbf_io_read(void *priv, void *buf, size_t len, uint64_t off)
{
	nbdkit_next *next = priv;
	uint8_t *p = buf;
	int err = 0;

	while (len > 0) {
		uint32_t n = len < CBF_IO_MAX ? (uint32_t)len : CBF_IO_MAX;

		if (next->pread(next, p, n, off, 0, &err) == -1)
			return err ? -err : -EIO;
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

static int cbf_io_write(void *priv, const void *buf, size_t len, uint64_t off)
{
	nbdkit_next *next = priv;
	const uint8_t *p = buf;
	int err = 0;

	while (len > 0) {
		uint32_t n = len < CBF_IO_MAX ? (uint32_t)len : CBF_IO_MAX;

		if (next->pwrite(next, p, n, off, 0, &err) == -1)
			return err ? -err : -EIO;
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

static int cbf_io_sync(void *priv)
{
	nbdkit_next *next = priv;
	int err = 0;

	if (next->can_flush(next) != 1)
		return 0; /* a plugin without flush writes through */
	if (next->flush(next, 0, &err) == -1)
		return err ? -err : -EIO;
	return 0;
}

/* Is any LUKS magic on the export: LUKS1/LUKS2 at 0, or a LUKS2 secondary
 * header at one of the offsets cryptsetup may put it? A damaged volume
 * still has one of them; only an export without any may be formatted. */
static int cbf_has_luks_magic(const struct luks_io *io, bool *found)
{
	static const uint64_t secondary[] = {16384,  32768,   65536,   131072, 262144,
					     524288, 1048576, 2097152, 4194304};
	uint8_t magic[6];
	int rc;

	*found = false;
	if (io->size < sizeof(magic))
		return 0;
	rc = io->read(io->priv, magic, sizeof(magic), 0);
	if (rc)
		return rc;
	*found = !memcmp(magic, "LUKS\xba\xbe", 6);
	for (size_t i = 0; i < sizeof(secondary) / sizeof(secondary[0]) && !*found && !rc; i++) {
		if (secondary[i] + sizeof(magic) > io->size)
			break;
		rc = io->read(io->priv, magic, sizeof(magic), secondary[i]);
		*found = !rc && !memcmp(magic, "SKUL\xba\xbe", 6);
	}
	return rc;
}

/* luks_load, after formatting the export when asked and it is blank. */
static int cbf_load(const struct luks_io *io, bool readonly, struct luks_header **hdr)
{
	struct luks_err err = {{0}};
	bool magic = true;
	int rc = luks_load(io, hdr, &err);

	/* Any LUKS magic means a volume, maybe damaged: never written over,
	 * and the load error says what is wrong with it. */
	if (rc && cbf_cfg.format_version && cbf_has_luks_magic(io, &magic) == 0 && !magic) {
		if (readonly || !io->write) {
			nbdkit_error("cryptblk: cryptblk-format: the export is read-only; "
				     "not formatting it");
			return -1;
		}
		nbdkit_debug("cryptblk: the export holds no LUKS header: formatting it as LUKS%d",
			     cbf_cfg.format_version);
		rc = luks_format(io, &cbf_cfg.format, cbf_cfg.pass, cbf_cfg.pass_len, &err);
		if (rc == 0)
			rc = io->sync(io->priv);
		if (rc == 0)
			rc = luks_load(io, hdr, &err);
	}
	if (rc)
		nbdkit_error("cryptblk: %s", err.msg[0] ? err.msg : strerror(-rc));
	return rc ? -1 : 0;
}

static bool cbf_layout_equal(const struct volume_layout *a, const struct volume_layout *b)
{
	return a->data_offset == b->data_offset && a->size == b->size &&
	       a->sector_size == b->sector_size && a->iv_tweak == b->iv_tweak &&
	       a->iv_large_sectors == b->iv_large_sectors && a->allow_discards == b->allow_discards;
}

/* Under cbf_vol.mutex: unlock `hdr` and make it the filter's volume, or
 * check that it is the same volume as the one already open. */
static int cbf_unlock(const struct luks_io *io, const struct luks_header *hdr, const uint8_t *ident,
		      size_t ident_len)
{
	struct luks_err err = {{0}};
	struct volume_layout layout;
	struct luks_key *key = NULL;
	int slot = -1, rc;

	rc = luks_unlock(io, hdr, cbf_cfg.pass, cbf_cfg.pass_len, &key, &slot, &err);
	if (rc == 0)
		rc = luks_layout(hdr, io->size, &layout, &err);
	if (rc) {
		if (rc == -ENOKEY)
			nbdkit_error("cryptblk: wrong passphrase: no keyslot opens with "
				     "cryptblk-key-file %s",
				     cbf_cfg.key_file);
		else
			nbdkit_error("cryptblk: %s", err.msg[0] ? err.msg : strerror(-rc));
		goto out;
	}
	nbdkit_debug("cryptblk: LUKS%d keyslot %d opened", luks_version(hdr), slot);
	if (cbf_vol.key) {
		if (key->len != cbf_vol.key->len ||
		    memcmp(key->bytes, cbf_vol.key->bytes, key->len) ||
		    !cbf_layout_equal(&layout, &cbf_vol.layout)) {
			nbdkit_error("cryptblk: this export holds another volume than the one "
				     "already open; the filter serves one volume");
			rc = -EINVAL;
		}
		goto out;
	}
	rc = cbf_driver_start(cbf_cfg.crypto, key, &cbf_vol.drv);
	if (rc) {
		nbdkit_error("cryptblk: cryptblk-crypto=%s: %s", cbf_cfg.crypto, strerror(-rc));
		goto out;
	}
	cbf_vol.key = key;
	cbf_vol.layout = layout;
	key = NULL;
out:
	if (rc == 0) {
		memcpy(cbf_vol.ident, ident, ident_len);
		cbf_vol.ident_len = ident_len;
		cbf_vol.ident_size = io->size;
	}
	luks_key_free(key);
	return rc ? -1 : 0;
}

int cbf_volume_prepare(nbdkit_next *next, bool readonly, struct volume_layout *layout,
		       struct cbf_driver **drv)
{
	struct luks_header *hdr = NULL;
	uint8_t ident[CBF_IDENT_BYTES];
	struct luks_io io = {
	    .read = cbf_io_read, .write = cbf_io_write, .sync = cbf_io_sync, .priv = next};
	int64_t size = next->get_size(next);
	size_t ident_len;
	int rc = -1;

	if (size < 0)
		return -1;
	io.size = (uint64_t)size;
	if (readonly || next->can_write(next) != 1)
		io.write = NULL, io.sync = NULL;
	pthread_mutex_lock(&cbf_vol.mutex);
	if (cbf_load(&io, readonly, &hdr))
		goto out;
	ident_len = io.size < CBF_IDENT_BYTES ? (size_t)io.size : CBF_IDENT_BYTES;
	if (io.read(io.priv, ident, ident_len, 0)) {
		nbdkit_error("cryptblk: reading the header: %s", strerror(EIO));
		goto out;
	}
	if (!cbf_vol.key || io.size != cbf_vol.ident_size || ident_len != cbf_vol.ident_len ||
	    memcmp(ident, cbf_vol.ident, ident_len))
		rc = cbf_unlock(&io, hdr, ident, ident_len);
	else
		rc = 0;
	if (rc == 0) {
		*layout = cbf_vol.layout;
		*drv = cbf_vol.drv;
	}
out:
	pthread_mutex_unlock(&cbf_vol.mutex);
	luks_free(hdr);
	return rc;
}

void cbf_volume_unload(void)
{
	cbf_driver_stop(cbf_vol.drv);
	cbf_vol.drv = NULL;
	luks_key_free(cbf_vol.key);
	cbf_vol.key = NULL;
	secmem_wipe(cbf_vol.ident, sizeof(cbf_vol.ident));
	secmem_free(cbf_cfg.pass, cbf_cfg.pass_cap);
	cbf_cfg.pass = NULL;
	cbf_cfg.pass_len = cbf_cfg.pass_cap = 0;
}
