/* Passphrase hashing and the calibration of its costs. */
#include "kdf.h"
#include "err.h"

#include <argon2.h>
#include <cryptblk/osslmem.h>
#include <errno.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int kdf_type_parse(const char *name, enum kdf_type *type)
{
	if (!strcmp(name, "pbkdf2"))
		*type = KDF_PBKDF2;
	else if (!strcmp(name, "argon2i"))
		*type = KDF_ARGON2I;
	else if (!strcmp(name, "argon2id"))
		*type = KDF_ARGON2ID;
	else
		return -EINVAL;
	return 0;
}

const char *kdf_type_name(enum kdf_type type)
{
	switch (type) {
	case KDF_PBKDF2:
		return "pbkdf2";
	case KDF_ARGON2I:
		return "argon2i";
	case KDF_ARGON2ID:
		return "argon2id";
	}
	return "unknown";
}

const EVP_MD *kdf_hash_lookup(const char *name)
{
	static const struct {
		const char *name;
		const EVP_MD *(*md)(void);
	} hashes[] = {
	    {"sha1", EVP_sha1},	    {"sha224", EVP_sha224}, {"sha256", EVP_sha256},
	    {"sha384", EVP_sha384}, {"sha512", EVP_sha512},
	};

	for (size_t i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++)
		if (!strcmp(name, hashes[i].name))
			return hashes[i].md();
	return NULL;
}

int kdf_pbkdf2(const char *hash, const void *pass, size_t pass_len, const uint8_t *salt,
	       size_t salt_len, uint32_t iterations, uint8_t *out, size_t outlen)
{
	const EVP_MD *md = kdf_hash_lookup(hash);
	int ok;

	if (!md || iterations == 0 || iterations > INT32_MAX || pass_len > INT32_MAX ||
	    outlen > INT32_MAX)
		return -EINVAL;
	/* OpenSSL copies the password (a passphrase, or the volume key for a
	 * digest) into its KDF and HMAC contexts: secure heap. */
	osslmem_secret_begin();
	ok = PKCS5_PBKDF2_HMAC(pass_len ? pass : "", (int)pass_len, salt, (int)salt_len,
			       (int)iterations, md, (int)outlen, out);
	osslmem_secret_end();
	return ok ? 0 : -ENOMEM;
}

static int kdf_argon2(const struct kdf_params *p, const void *pass, size_t pass_len, uint8_t *out,
		      size_t outlen)
{
	argon2_type t = p->type == KDF_ARGON2I ? Argon2_i : Argon2_id;
	int rc;

	if (pass_len > UINT32_MAX || outlen > UINT32_MAX)
		return -EINVAL;
	rc =
	    argon2_hash(p->iterations, p->memory_kib, p->parallel, pass_len ? pass : NULL, pass_len,
			p->salt, p->salt_len, out, outlen, NULL, 0, t, ARGON2_VERSION_13);
	if (rc == ARGON2_MEMORY_ALLOCATION_ERROR)
		return -ENOMEM;
	return rc == ARGON2_OK ? 0 : -EINVAL;
}

int kdf_derive(const struct kdf_params *p, const void *pass, size_t pass_len, uint8_t *out,
	       size_t outlen)
{
	if (p->type == KDF_PBKDF2)
		return kdf_pbkdf2(p->hash, pass, pass_len, p->salt, p->salt_len, p->iterations, out,
				  outlen);
	return kdf_argon2(p, pass, pass_len, out, outlen);
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Time one derivation with a throwaway passphrase. */
static int kdf_time_us(const struct kdf_params *p, size_t outlen, uint64_t *us)
{
	uint8_t out[LUKS_KEY_MAX];
	uint64_t start = now_us();
	int rc = kdf_derive(p, "calibration", 11, out, outlen);

	*us = now_us() - start + 1;
	OPENSSL_cleanse(out, sizeof(out));
	return rc;
}

static uint32_t clamp_u32(uint64_t v, uint32_t lo, uint32_t hi)
{
	return v < lo ? lo : v > hi ? hi : (uint32_t)v;
}

static int kdf_calibrate_pbkdf2(struct kdf_params *p, uint64_t target_us, size_t outlen)
{
	uint64_t us = 0;
	int rc;

	/* Grow the trial until it is long enough to measure. */
	for (p->iterations = KDF_PBKDF2_ITER_MIN;; p->iterations *= 2) {
		rc = kdf_time_us(p, outlen, &us);
		if (rc || us >= 20000 || p->iterations >= (1u << 30))
			break;
	}
	if (rc == 0)
		p->iterations = clamp_u32((uint64_t)p->iterations * target_us / us,
					  KDF_PBKDF2_ITER_MIN, INT32_MAX);
	return rc;
}

static int kdf_calibrate_argon2(struct kdf_params *p, uint64_t target_us, uint32_t memory_max,
				size_t outlen)
{
	uint64_t us = 0, unit_cost_ps;
	int rc;

	/* One trial at a modest memory size gives the cost of one KiB-pass;
	 * spend the budget on memory first, then on passes (cryptsetup's
	 * preference too). */
	p->iterations = KDF_ARGON2_TIME_MIN;
	p->memory_kib = memory_max < 65536 ? memory_max : 65536;
	rc = kdf_time_us(p, outlen, &us);
	if (rc)
		return rc;
	unit_cost_ps = us * 1000000u / ((uint64_t)p->iterations * p->memory_kib) + 1;
	if (unit_cost_ps * KDF_ARGON2_TIME_MIN * memory_max <= target_us * 1000000u) {
		p->memory_kib = memory_max;
		p->iterations = clamp_u32(target_us * 1000000u / (unit_cost_ps * memory_max),
					  KDF_ARGON2_TIME_MIN, UINT32_MAX);
	} else {
		p->memory_kib =
		    clamp_u32(target_us * 1000000u / (unit_cost_ps * KDF_ARGON2_TIME_MIN),
			      KDF_ARGON2_MEMORY_MIN, memory_max);
	}
	if (p->memory_kib < 8 * p->parallel)
		p->memory_kib = 8 * p->parallel;
	return 0;
}

int kdf_calibrate(struct kdf_params *p, uint32_t target_ms, uint32_t memory_max_kib, size_t outlen)
{
	uint64_t target_us = (uint64_t)(target_ms ? target_ms : 1) * 1000u;

	if (p->type == KDF_PBKDF2)
		return kdf_calibrate_pbkdf2(p, target_us, outlen);
	return kdf_calibrate_argon2(p, target_us, memory_max_kib, outlen);
}

/* Half the machine's memory, at most the 1 GiB default (cryptsetup's rule). */
static uint32_t kdf_memory_limit(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
	uint64_t half_kib;

	if (pages <= 0 || page <= 0)
		return KDF_ARGON2_MEMORY_DEF;
	half_kib = (uint64_t)pages * (uint64_t)page / 2048u;
	return half_kib < KDF_ARGON2_MEMORY_DEF ? (uint32_t)half_kib : KDF_ARGON2_MEMORY_DEF;
}

static uint32_t kdf_parallel_default(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (cpus < 1)
		return 1;
	return cpus < KDF_ARGON2_PARALLEL_DEF ? (uint32_t)cpus : KDF_ARGON2_PARALLEL_DEF;
}

static int kdf_choice_type(const struct luks_kdf_choice *c, bool luks1, enum kdf_type *t,
			   struct luks_err *err)
{
	switch (c->type) {
	case LUKS_KDF_DEFAULT:
		*t = luks1 ? KDF_PBKDF2 : KDF_ARGON2ID;
		return 0;
	case LUKS_KDF_PBKDF2:
		*t = KDF_PBKDF2;
		return 0;
	case LUKS_KDF_ARGON2I:
		*t = KDF_ARGON2I;
		break;
	case LUKS_KDF_ARGON2ID:
		*t = KDF_ARGON2ID;
		break;
	default:
		return luks_err_set(err, -EINVAL, "kdf: unknown type %d", (int)c->type);
	}
	if (luks1)
		return luks_err_set(err, -EINVAL, "luks1: kdf: only pbkdf2 is possible");
	return 0;
}

int kdf_params_choose(struct kdf_params *p, const struct luks_kdf_choice *c, bool luks1,
		      size_t outlen, struct luks_err *err)
{
	static const struct luks_kdf_choice none = {0};
	int rc;

	if (!c)
		c = &none;
	memset(p, 0, sizeof(*p));
	rc = kdf_choice_type(c, luks1, &p->type, err);
	if (rc)
		return rc;
	snprintf(p->hash, sizeof(p->hash), "sha256");
	p->salt_len = KDF_SALT_LEN;
	if (RAND_bytes(p->salt, (int)p->salt_len) != 1)
		return luks_err_set(err, -EIO, "kdf: no random bytes for the salt");
	if (p->type == KDF_PBKDF2) {
		if (c->iterations) {
			if (c->iterations < KDF_PBKDF2_ITER_MIN || c->iterations > INT32_MAX)
				return luks_err_set(err, -EINVAL,
						    "kdf: pbkdf2 iterations %u outside %u..%d",
						    c->iterations, KDF_PBKDF2_ITER_MIN, INT32_MAX);
			p->iterations = c->iterations;
			return 0;
		}
	} else {
		p->parallel = c->parallel ? c->parallel : kdf_parallel_default();
		if (p->parallel > KDF_ARGON2_PARALLEL_MAX)
			return luks_err_set(err, -EINVAL, "kdf: argon2 parallel cost %u over %u",
					    p->parallel, KDF_ARGON2_PARALLEL_MAX);
		if (c->memory_kib &&
		    (c->memory_kib < KDF_ARGON2_MEMORY_MIN ||
		     c->memory_kib > KDF_ARGON2_MEMORY_MAX || c->memory_kib < 8 * p->parallel))
			return luks_err_set(
			    err, -EINVAL, "kdf: argon2 memory %u KiB outside %u..%u", c->memory_kib,
			    KDF_ARGON2_MEMORY_MIN > 8 * p->parallel ? KDF_ARGON2_MEMORY_MIN
								    : 8 * p->parallel,
			    KDF_ARGON2_MEMORY_MAX);
		if (c->iterations) {
			if (c->iterations < KDF_ARGON2_TIME_MIN)
				return luks_err_set(err, -EINVAL,
						    "kdf: argon2 time cost %u under %u",
						    c->iterations, KDF_ARGON2_TIME_MIN);
			p->iterations = c->iterations;
			p->memory_kib = c->memory_kib ? c->memory_kib : KDF_ARGON2_MEMORY_DEF;
			return 0;
		}
	}
	rc = kdf_calibrate(p, c->iter_time_ms ? c->iter_time_ms : 2000,
			   c->memory_kib ? c->memory_kib : kdf_memory_limit(), outlen);
	if (rc)
		return luks_err_set(err, rc, "kdf: %s calibration failed", kdf_type_name(p->type));
	return 0;
}
