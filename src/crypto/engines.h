/* The engines engine.c can open by name. */
#ifndef CRYPTBLK_CRYPTO_ENGINES_H
#define CRYPTBLK_CRYPTO_ENGINES_H

#include <cryptblk/crypto.h>

extern const struct crypto_engine_ops crypto_openssl_ops;
extern const struct crypto_engine_ops crypto_threads_ops;
extern const struct crypto_engine_ops crypto_virtio_ops; /* virtio/virtio_engine.c */
/* Benchmark only: "delay:D[,SPEC]" holds each job D before SPEC runs it. */
extern const struct crypto_engine_ops crypto_delay_ops;

#endif
