/* A LUKS image opened for serving: unlocked once, its backend shared by
 * every serving thread, one engine per thread holding the volume key.
 * The frontends' thread ops (open/close) are serve_volume_open/close. */
#ifndef CRYPTBLK_TOOLS_SERVE_VOLUME_H
#define CRYPTBLK_TOOLS_SERVE_VOLUME_H

#include <cryptblk/backend.h>
#include <cryptblk/crypto.h>
#include <cryptblk/luks.h>
#include <cryptblk/volume.h>
#include <stdbool.h>

#define SERVE_MAX_THREADS 256

struct serve_volume {
	struct backend *be;
	struct volume_layout layout;
	struct luks_key *key; /* secmem; dropped once every thread has its engine */
	const char *engine_spec;
	struct crypto_engine *engines[SERVE_MAX_THREADS];
};

/* Open IMAGE, read the passphrase (key_file as cryptsetup takes it), unlock,
 * open the backend. Prints one line and returns an exit code on failure. */
int serve_volume_init(struct serve_volume *sv, const char *image, const char *key_file,
		      const char *engine_spec, bool read_only);
/* Wipe the volume key: every thread's engine has its own copy by now. */
void serve_volume_drop_key(struct serve_volume *sv);
void serve_volume_fini(struct serve_volume *sv);

/* Thread ops: open an engine and a volume on thread `index`'s loop, and
 * close them again. `ctx` is the struct serve_volume. */
int serve_volume_open(void *ctx, unsigned index, struct loop *loop, struct volume **out);
void serve_volume_close(void *ctx, unsigned index, struct volume *vol);

#endif
