/* A test-only crypto engine around a real one that refuses work: submit()
 * answers -EBUSY on every other call, and whenever two jobs are already in
 * the inner engine. Everything else passes through, so the results are the
 * inner engine's. Used to show that callers survive a full engine. */
#ifndef CRYPTBLK_HELPER_REFUSING_ENGINE_H
#define CRYPTBLK_HELPER_REFUSING_ENGINE_H

#include <cryptblk/crypto.h>

/* `inner` stays the caller's: close the wrapper (crypto_engine_close) first,
 * then the inner engine. */
int helper_refusing_engine_wrap(struct crypto_engine *inner, struct crypto_engine **out);

/* How many submits the wrapper refused, and the most jobs it ever had in the
 * inner engine at once. */
unsigned helper_refusing_engine_refusals(const struct crypto_engine *engine);
unsigned helper_refusing_engine_max_inflight(const struct crypto_engine *engine);

#endif
