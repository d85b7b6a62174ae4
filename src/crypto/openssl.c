/* The "openssl" engine: AES-XTS on the submitting thread.
 *
 * submit() runs the whole job at once and puts it on a done list; complete()
 * hands that list back. There is no signal fd: the loop calls complete() as
 * a progress function after every CQE batch, which is enough because the
 * work is already done when submit() returns. It never refuses with -EBUSY.
 */
#include "crypto/engines.h"
#include "crypto/xts.h"

#include <errno.h>
#include <stdlib.h>

struct openssl_engine {
	struct crypto_engine base; /* first: engine.c casts */
	struct xts_keys keys;
	struct xts_done done;
};

static struct openssl_engine *openssl_of(struct crypto_engine *engine)
{
	return (struct openssl_engine *)engine;
}

static int openssl_create(const char *args, struct crypto_engine **out)
{
	struct openssl_engine *ose;

	if (args) /* "openssl" takes no arguments */
		return -EINVAL;
	ose = calloc(1, sizeof(*ose));
	if (!ose)
		return -ENOMEM;
	*out = &ose->base;
	return 0;
}

static void openssl_destroy(struct crypto_engine *engine)
{
	struct openssl_engine *ose = openssl_of(engine);

	xts_keys_clear_all(&ose->keys);
	free(ose);
}

static int openssl_set_key(struct crypto_engine *engine, unsigned slot, const uint8_t *key,
			   size_t key_len)
{
	return xts_keys_set(&openssl_of(engine)->keys, slot, key, key_len);
}

static void openssl_clear_key(struct crypto_engine *engine, unsigned slot)
{
	xts_keys_clear(&openssl_of(engine)->keys, slot);
}

static int openssl_submit(struct crypto_engine *engine, struct crypto_job *job)
{
	struct openssl_engine *ose = openssl_of(engine);
	int err = crypto_job_check(job);

	if (err)
		return err;
	if (!xts_keys_ready(&ose->keys, job->key_slot))
		return -ENOKEY;
	xts_job_run_to(&ose->keys, job, &ose->done);
	return 0;
}

static struct crypto_job *openssl_complete(struct crypto_engine *engine)
{
	return xts_done_take(&openssl_of(engine)->done);
}

const struct crypto_engine_ops crypto_openssl_ops = {
    .name = "openssl",
    .create = openssl_create,
    .destroy = openssl_destroy,
    .set_key = openssl_set_key,
    .clear_key = openssl_clear_key,
    .submit = openssl_submit,
    .complete = openssl_complete,
};
