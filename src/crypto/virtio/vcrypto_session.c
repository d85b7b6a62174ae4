/* The virtio-crypto engine core, control queue: sessions for key slots.
 *
 * One command at a time, always in descriptors 0 and 1 of the control
 * ring: the request (with the key behind it for CREATE_SESSION) readable,
 * the answer writable. The caller sleeps in ops->ctrl_wait() until the
 * used ring moves; a device that does not answer within
 * VCRYPTO_CTRL_TIMEOUT_MS, or whose status goes wrong meanwhile, makes the
 * engine FAILED. Keys are in the control memory only while their command
 * runs.
 */
#include "crypto/virtio/vcrypto.h"

#include <cryptblk/clock.h>
#include <endian.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#define VCRYPTO_ANSWER_NONE 0xffffffffu /* not a status the device would write */

static int vcrypto_status_errno(uint32_t status)
{
	switch (status) {
	case VCRYPTO_OK:
		return 0;
	case VCRYPTO_NOTSUPP:
		return -EOPNOTSUPP;
	case VCRYPTO_NOSPC:
		return -ENOSPC;
	case VCRYPTO_BADMSG:
		return -EINVAL;
	case VCRYPTO_INVSESS:
		return -ENOENT;
	case VCRYPTO_KEY_REJECTED:
		return -EKEYREJECTED;
	default:
		return -EIO;
	}
}

static int vcrypto_ctrl_exec(struct vcrypto *vc, uint32_t out_len, void *answer,
			     uint32_t answer_len)
{
	uint64_t deadline = clock_now_ns() + vc->ctrl_timeout_ms * 1000000ull;
	const struct dma_pool *p = vc->pool;
	uint32_t id, len;
	char why[128];
	int r;

	vring_desc_set(&vc->ctrl, 0, dma_pool_iova(p, vc->ctrl_mem), out_len, VRING_DESC_F_NEXT, 1);
	vring_desc_set(&vc->ctrl, 1, dma_pool_iova(p, answer), answer_len, VRING_DESC_F_WRITE, 0);
	vring_avail_push(&vc->ctrl, 0);
	vring_kick_prepare(&vc->ctrl);
	vc->ops->notify(vc->bus, vc->q.ctrl_index);
	for (;;) {
		uint8_t status;
		const char *trouble;
		uint64_t now;
		int err;

		r = vring_used_pop(&vc->ctrl, &id, &len);
		if (r == 1 && id == 0)
			return 0;
		if (r == 1) {
			snprintf(
			    why, sizeof(why),
			    "control queue: the device answered descriptor %u, not the command",
			    id);
			break;
		}
		if (r < 0) {
			snprintf(why, sizeof(why),
				 "control queue: the used index ran past the command");
			break;
		}
		status = vc->ops->status(vc->bus);
		trouble = vcrypto_status_trouble(status);
		if (trouble) {
			snprintf(why, sizeof(why), "control queue: %s (status 0x%02x)", trouble,
				 status);
			break;
		}
		now = clock_now_ns();
		if (now >= deadline) {
			snprintf(why, sizeof(why), "control queue: no answer in %u ms",
				 vc->ctrl_timeout_ms);
			vcrypto_fail(vc, why);
			return -ETIMEDOUT;
		}
		err = vc->ops->ctrl_wait(vc->bus, (int)((deadline - now + 999999) / 1000000));
		if (err) {
			snprintf(why, sizeof(why), "control queue: waiting for the interrupt: %s",
				 strerror(-err));
			break;
		}
	}
	vcrypto_fail(vc, why);
	return -EIO;
}

static int vcrypto_session_create(struct vcrypto *vc, enum crypto_dir dir, const uint8_t *key,
				  size_t key_len, uint64_t *id)
{
	struct vcrypto_ctrl_mem *m = vc->ctrl_mem;
	uint32_t status;
	int err;

	memset(&m->req, 0, sizeof(m->req));
	m->req.header.opcode = htole32(VCRYPTO_OP_CIPHER_CREATE_SESS);
	m->req.header.algo = htole32(VCRYPTO_CIPHER_AES_XTS);
	m->req.header.queue_id = htole32(vc->q.data_index);
	m->req.u.create.algo = htole32(VCRYPTO_CIPHER_AES_XTS);
	m->req.u.create.keylen = htole32((uint32_t)key_len);
	m->req.u.create.op =
	    htole32(dir == CRYPTO_ENCRYPT ? VCRYPTO_SESS_OP_ENCRYPT : VCRYPTO_SESS_OP_DECRYPT);
	m->req.u.create.op_type = htole32(VCRYPTO_SYM_OP_CIPHER);
	memcpy(m->key, key, key_len);
	m->input.session_id = 0;
	m->input.status = htole32(VCRYPTO_ANSWER_NONE);
	err = vcrypto_ctrl_exec(vc, (uint32_t)(sizeof(m->req) + key_len), &m->input,
				sizeof(m->input));
	OPENSSL_cleanse(m->key, sizeof(m->key));
	if (err)
		return err;
	status = le32toh(m->input.status);
	err = vcrypto_status_errno(status);
	if (err)
		return err;
	*id = le64toh(m->input.session_id);
	vc->stats.sessions_created++;
	return 0;
}

/* 0 when the session is gone (destroyed, or the device does not know it),
 * a negative errno when it may still exist. */
static int vcrypto_session_destroy(struct vcrypto *vc, uint64_t id)
{
	struct vcrypto_ctrl_mem *m = vc->ctrl_mem;
	int err;

	memset(&m->req, 0, sizeof(m->req));
	m->req.header.opcode = htole32(VCRYPTO_OP_CIPHER_DESTROY_SESS);
	m->req.header.algo = htole32(VCRYPTO_CIPHER_AES_XTS);
	m->req.header.queue_id = htole32(vc->q.data_index);
	m->req.u.destroy.session_id = htole64(id);
	m->status = 0xff;
	err = vcrypto_ctrl_exec(vc, sizeof(m->req), &m->status, sizeof(m->status));
	if (err)
		return err;
	err = vcrypto_status_errno(m->status);
	if (err == 0)
		vc->stats.sessions_destroyed++;
	if (err && err != -ENOENT)
		fprintf(stderr, "cryptblk: virtio: %s: destroying session %llu: status %u\n",
			vc->name, (unsigned long long)id, m->status);
	return err == -ENOENT ? 0 : err;
}

/* Destroys both sessions of a slot; the slot stays live if one may remain. */
static int vcrypto_slot_destroy(struct vcrypto *vc, struct vcrypto_keyslot *ks)
{
	int err = 0;

	if (!ks->live)
		return 0;
	for (int dir = 0; dir < 2 && !err; dir++) {
		if (ks->session[dir] != UINT64_MAX)
			err = vcrypto_session_destroy(vc, ks->session[dir]);
		if (!err)
			ks->session[dir] = UINT64_MAX;
	}
	if (!err)
		ks->live = false;
	return err;
}

int vcrypto_key_set(struct vcrypto *vc, unsigned slot, const uint8_t *key, size_t key_len)
{
	struct vcrypto_keyslot *ks;
	uint64_t enc, dec;
	int err;

	if (slot >= CRYPTO_KEY_SLOTS || !key || (key_len != 32 && key_len != 64))
		return -EINVAL;
	/* XTS needs independent halves; the CPU engines refuse them too. */
	if (CRYPTO_memcmp(key, key + key_len / 2, key_len / 2) == 0)
		return -EINVAL;
	if (vc->state != VCRYPTO_RUNNING)
		return -EIO;
	ks = &vc->keys[slot];
	if (ks->jobs)
		return -EBUSY;
	err = vcrypto_session_create(vc, CRYPTO_ENCRYPT, key, key_len, &enc);
	if (err)
		return err;
	err = vcrypto_session_create(vc, CRYPTO_DECRYPT, key, key_len, &dec);
	if (err) {
		if (vc->state == VCRYPTO_RUNNING)
			vcrypto_session_destroy(vc, enc);
		return err;
	}
	/* The old pair goes only once the new one exists; if it cannot be
	 * destroyed now it is simply forgotten: the device keeps it. */
	if (ks->live && vcrypto_slot_destroy(vc, ks) != 0)
		fprintf(stderr,
			"cryptblk: virtio: %s: key slot %u: the old sessions stay on "
			"the device\n",
			vc->name, slot);
	ks->session[CRYPTO_ENCRYPT] = enc;
	ks->session[CRYPTO_DECRYPT] = dec;
	ks->live = true;
	ks->keyed = true;
	return 0;
}

void vcrypto_key_clear(struct vcrypto *vc, unsigned slot)
{
	struct vcrypto_keyslot *ks;

	if (slot >= CRYPTO_KEY_SLOTS)
		return;
	ks = &vc->keys[slot];
	ks->keyed = false;
	if (vc->state == VCRYPTO_RUNNING && ks->jobs == 0)
		vcrypto_slot_destroy(vc, ks);
}

unsigned vcrypto_keys_clear_all(struct vcrypto *vc)
{
	unsigned left = 0;

	for (unsigned i = 0; i < CRYPTO_KEY_SLOTS; i++) {
		struct vcrypto_keyslot *ks = &vc->keys[i];

		ks->keyed = false;
		if (vc->state == VCRYPTO_RUNNING)
			vcrypto_slot_destroy(vc, ks);
		if (ks->live)
			left += (ks->session[0] != UINT64_MAX) + (ks->session[1] != UINT64_MAX);
	}
	return left;
}

unsigned vcrypto_sessions_live(const struct vcrypto *vc)
{
	unsigned n = 0;

	for (unsigned i = 0; i < CRYPTO_KEY_SLOTS; i++) {
		const struct vcrypto_keyslot *ks = &vc->keys[i];

		if (ks->live)
			n += (ks->session[0] != UINT64_MAX) + (ks->session[1] != UINT64_MAX);
	}
	return n;
}
