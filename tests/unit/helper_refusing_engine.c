/* The refusing engine: a real engine behind a submit() that often says
 * -EBUSY. Calls the inner engine only through its ops, so it links into
 * every unit test without pulling anything in. */
#include "helper_refusing_engine.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

#define REFUSING_MAX_INFLIGHT 2u

struct refusing_engine {
	struct crypto_engine base; /* first: crypto.c sees only this */
	struct crypto_engine *inner;
	unsigned calls, refusals, inflight, max_inflight;
};

static const struct crypto_engine_ops refusing_ops;

static struct refusing_engine *refusing_of(struct crypto_engine *engine)
{
	return (struct refusing_engine *)engine;
}

static int refusing_create(const char *args, struct crypto_engine **out)
{
	(void)args;
	*out = NULL;
	return -EINVAL; /* only made by helper_refusing_engine_wrap */
}

static void refusing_destroy(struct crypto_engine *engine)
{
	free(refusing_of(engine));
}

static int refusing_set_key(struct crypto_engine *engine, unsigned slot, const uint8_t *key,
			    size_t key_len)
{
	struct crypto_engine *inner = refusing_of(engine)->inner;

	return inner->ops->set_key(inner, slot, key, key_len);
}

static void refusing_clear_key(struct crypto_engine *engine, unsigned slot)
{
	struct crypto_engine *inner = refusing_of(engine)->inner;

	inner->ops->clear_key(inner, slot);
}

static int refusing_submit(struct crypto_engine *engine, struct crypto_job *job)
{
	struct refusing_engine *re = refusing_of(engine);
	int err;

	if (re->calls++ % 2 == 0 || re->inflight >= REFUSING_MAX_INFLIGHT) {
		re->refusals++;
		return -EBUSY;
	}
	err = re->inner->ops->submit(re->inner, job);
	if (err == 0 && ++re->inflight > re->max_inflight)
		re->max_inflight = re->inflight;
	return err;
}

static struct crypto_job *refusing_complete(struct crypto_engine *engine)
{
	struct refusing_engine *re = refusing_of(engine);
	struct crypto_job *jobs = re->inner->ops->complete(re->inner);

	for (struct crypto_job *job = jobs; job; job = job->next)
		re->inflight--;
	return jobs;
}

static int refusing_signal_fd(struct crypto_engine *engine)
{
	struct crypto_engine *inner = refusing_of(engine)->inner;

	return inner->ops->signal_fd ? inner->ops->signal_fd(inner) : -1;
}

static void *refusing_buf_alloc(struct crypto_engine *engine, size_t len)
{
	struct crypto_engine *inner = refusing_of(engine)->inner;
	void *buf = NULL;

	if (inner->ops->buf_alloc)
		return inner->ops->buf_alloc(inner, len);
	if (len == 0 || posix_memalign(&buf, 4096, (len + 4095) / 4096 * 4096) != 0)
		return NULL;
	return buf;
}

static void refusing_buf_free(struct crypto_engine *engine, void *buf, size_t len)
{
	struct crypto_engine *inner = refusing_of(engine)->inner;

	if (inner->ops->buf_free)
		inner->ops->buf_free(inner, buf, len);
	else
		free(buf);
}

static const struct crypto_engine_ops refusing_ops = {
    .name = "refusing",
    .create = refusing_create,
    .destroy = refusing_destroy,
    .set_key = refusing_set_key,
    .clear_key = refusing_clear_key,
    .submit = refusing_submit,
    .complete = refusing_complete,
    .signal_fd = refusing_signal_fd,
    .buf_alloc = refusing_buf_alloc,
    .buf_free = refusing_buf_free,
};

int helper_refusing_engine_wrap(struct crypto_engine *inner, struct crypto_engine **out)
{
	struct refusing_engine *re;

	*out = NULL;
	if (!inner)
		return -EINVAL;
	re = calloc(1, sizeof(*re));
	if (!re)
		return -ENOMEM;
	re->base.ops = &refusing_ops;
	re->inner = inner;
	*out = &re->base;
	return 0;
}

unsigned helper_refusing_engine_refusals(const struct crypto_engine *engine)
{
	return ((const struct refusing_engine *)engine)->refusals;
}

unsigned helper_refusing_engine_max_inflight(const struct crypto_engine *engine)
{
	return ((const struct refusing_engine *)engine)->max_inflight;
}
