/* Opening a LUKS image for the serving frontends. */
#include "serve_volume.h"

#include "cli.h"
#include "cmd_luks.h"
#include "passphrase.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int serve_volume_init(struct serve_volume *sv, const char *image, const char *key_file,
		      const char *engine_spec, bool read_only)
{
	struct luks_image img;
	struct luks_err err = {{0}};
	struct passphrase pass = {0};
	int rc, ret, slot = -1;

	memset(sv, 0, sizeof(*sv));
	sv->engine_spec = engine_spec ? engine_spec : "openssl";
	ret = luks_image_open(image, false, &img);
	if (ret)
		return ret;
	rc = passphrase_read(key_file, "Enter passphrase: ", false, &pass);
	if (rc) {
		ret = cli_exit_code(rc);
		goto out;
	}
	rc = luks_unlock(&img.io, img.hdr, pass.buf, pass.len, &sv->key, &slot, &err);
	if (rc == 0)
		rc = luks_layout(img.hdr, img.io.size, &sv->layout, &err);
	if (rc) {
		ret = luks_cli_fail(rc, &err, image);
		goto out;
	}
	rc = backend_file_open(image, read_only ? BACKEND_FILE_READONLY : 0, &sv->be);
	if (rc) {
		cli_error("%s: %s", image, strerror(-rc));
		ret = cli_exit_code(rc);
	}
out:
	passphrase_free(&pass);
	luks_image_close(&img);
	if (ret)
		serve_volume_fini(sv);
	return ret;
}

void serve_volume_drop_key(struct serve_volume *sv)
{
	luks_key_free(sv->key);
	sv->key = NULL;
}

void serve_volume_fini(struct serve_volume *sv)
{
	serve_volume_drop_key(sv);
	backend_close(sv->be);
	sv->be = NULL;
}

int serve_volume_open(void *ctx, unsigned index, struct loop *loop, struct volume **out)
{
	struct serve_volume *sv = ctx;
	struct crypto_engine *engine = NULL;
	int ret;

	if (index >= SERVE_MAX_THREADS || !sv->key)
		return -EINVAL;
	ret = crypto_engine_open(sv->engine_spec, &engine);
	if (ret) {
		cli_error("crypto engine %s: %s", sv->engine_spec, strerror(-ret));
		return ret;
	}
	ret = crypto_engine_set_key(engine, sv->layout.key_slot, sv->key->bytes, sv->key->len);
	if (ret == 0)
		ret = crypto_engine_attach(engine, loop);
	if (ret == 0)
		ret = volume_open(sv->be, engine, loop, &sv->layout, out);
	if (ret) {
		crypto_engine_detach(engine);
		crypto_engine_close(engine);
		return ret;
	}
	sv->engines[index] = engine;
	return 0;
}

void serve_volume_close(void *ctx, unsigned index, struct volume *vol)
{
	struct serve_volume *sv = ctx;

	volume_close(vol);
	if (index < SERVE_MAX_THREADS && sv->engines[index]) {
		crypto_engine_detach(sv->engines[index]);
		crypto_engine_close(sv->engines[index]);
		sv->engines[index] = NULL;
	}
}
