/* The handshake phase: greeting, client flags, and option framing (header,
 * limit check, data), all through the loop. What each option means lives
 * in options.c. */
#include "nbd_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void nbd_handshake_opt_header(struct nbd_conn *c, int err);

static void nbd_handshake_next_option(struct nbd_conn *c)
{
	c->state = NBD_CONN_OPTIONS;
	nbd_conn_recv(c, &c->opt_hdr, sizeof(c->opt_hdr), nbd_handshake_opt_header);
}

static void nbd_handshake_fill_ctx(const struct nbd_conn *c, struct nbd_opt_ctx *ctx)
{
	const struct nbd_worker *w = c->w;

	memset(ctx, 0, sizeof(*ctx));
	ctx->name = w->srv->export_name;
	ctx->description = w->srv->description;
	ctx->size = w->size;
	ctx->sector_size = w->sector_size;
	ctx->read_only = w->read_only;
	ctx->tls_required = w->srv->cfg.tls != NULL;
	ctx->tls_active = c->tls != NULL;
	ctx->no_zeroes = c->no_zeroes;
	ctx->structured = c->structured;
	ctx->meta_base_allocation = c->meta_base_allocation;
}

static void nbd_handshake_opt_data(struct nbd_conn *c, int err)
{
	uint32_t option = be32toh(c->opt_hdr.option);
	struct nbd_opt_ctx ctx;
	struct nbd_buf out = {0};
	enum nbd_opt_action action;

	if (err || c->fatal) {
		nbd_conn_fail(c, c->fatal ? NULL : "option data cut off");
		goto out;
	}
	nbd_handshake_fill_ctx(c, &ctx);
	action = nbd_option_handle(&ctx, option, c->opt_data, c->opt_len, &out);
	c->structured = ctx.structured;
	c->meta_base_allocation = ctx.meta_base_allocation;
	if (out.error) {
		nbd_conn_fail(c, "option reply: out of memory");
		goto out;
	}
	if (out.len && nbd_conn_send_copy(c, out.data, out.len) < 0) {
		nbd_conn_fail(c, "option reply: out of memory");
		goto out;
	}
	switch (action) {
	case NBD_OPT_CONTINUE:
		nbd_handshake_next_option(c);
		break;
	case NBD_OPT_TRANSMIT:
		nbd_transmission_start(c);
		break;
	case NBD_OPT_ABORTED:
		/* No more receives: the connection closes once the ack left. */
		c->state = NBD_CONN_DRAINING;
		break;
	case NBD_OPT_CLOSE:
		nbd_conn_fail(c, ctx.why);
		break;
	case NBD_OPT_START_TLS:
		/* The ack just queued still leaves in plaintext; every byte
		 * after it, both ways, is TLS. */
		if (nbd_tls_conn_start(c) < 0)
			nbd_conn_fail(c, "TLS: out of memory");
		else
			nbd_handshake_next_option(c);
		break;
	}
out:
	free(c->opt_data);
	c->opt_data = NULL;
	nbd_buf_free(&out);
}

static void nbd_handshake_opt_header(struct nbd_conn *c, int err)
{
	uint64_t magic = be64toh(c->opt_hdr.magic);
	uint32_t option = be32toh(c->opt_hdr.option);
	uint32_t len = be32toh(c->opt_hdr.len);
	char why[96];

	if (err || c->fatal) {
		/* EOF between options: the client went away; nothing to say. */
		nbd_conn_fail(c, err == -ENODATA || c->fatal ? NULL : "option header cut off");
		return;
	}
	if (magic != NBD_MAGIC_OPT) {
		snprintf(why, sizeof(why), "option: bad magic 0x%016llx",
			 (unsigned long long)magic);
		nbd_conn_fail(c, why);
		return;
	}
	if (len > NBD_OPT_MAX_LEN) {
		snprintf(why, sizeof(why), "option %u: length %u over limit %u", option, len,
			 NBD_OPT_MAX_LEN);
		nbd_conn_fail(c, why);
		return;
	}
	c->opt_len = len;
	c->opt_data = malloc(len ? len : 1);
	if (!c->opt_data) {
		nbd_conn_fail(c, "option data: out of memory");
		return;
	}
	nbd_conn_recv(c, c->opt_data, len, nbd_handshake_opt_data);
}

static void nbd_handshake_client_flags(struct nbd_conn *c, int err)
{
	uint32_t flags = nbd_get32(c->client_flags);
	char why[64];

	if (err || c->fatal) {
		nbd_conn_fail(c, err == -ENODATA || c->fatal ? NULL : "client flags cut off");
		return;
	}
	if (flags & ~(uint32_t)(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES)) {
		snprintf(why, sizeof(why), "unknown client flags 0x%08x", flags);
		nbd_conn_fail(c, why);
		return;
	}
	if (c->w->srv->cfg.tls && !(flags & NBD_FLAG_C_FIXED_NEWSTYLE)) {
		/* TLS needs fixed newstyle, and this server requires TLS. */
		nbd_conn_fail(c, "client without fixed newstyle cannot start TLS, which is "
				 "required");
		return;
	}
	c->no_zeroes = flags & NBD_FLAG_C_NO_ZEROES;
	nbd_handshake_next_option(c);
}

void nbd_handshake_start(struct nbd_conn *c)
{
	struct nbd_wire_greeting g = {
	    .magic = htobe64(NBD_MAGIC_INIT),
	    .opt_magic = htobe64(NBD_MAGIC_OPT),
	    .flags = htobe16(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES),
	};

	if (nbd_conn_send_copy(c, &g, sizeof(g)) < 0) {
		nbd_conn_fail(c, "greeting: out of memory");
		return;
	}
	nbd_conn_recv(c, c->client_flags, sizeof(c->client_flags), nbd_handshake_client_flags);
}
