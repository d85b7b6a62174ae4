/* The meaning of each handshake option: parse its data (every length checked
 * against the option's own length and NBD_STRING_MAX before use), update the
 * negotiated state and build the replies into a buffer. No I/O here. */
#include "nbd_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void nbd_buf_put(struct nbd_buf *b, const void *p, size_t n)
{
	if (b->error || n == 0)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		uint8_t *d;

		while (cap < b->len + n)
			cap *= 2;
		d = realloc(b->data, cap);
		if (!d) {
			b->error = -ENOMEM;
			return;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void nbd_buf_free(struct nbd_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* One option reply: header, then `head` and `tail` as its data. */
static void nbd_opt_reply2(struct nbd_buf *out, uint32_t option, uint32_t type, const void *head,
			   size_t head_len, const void *tail, size_t tail_len)
{
	struct nbd_wire_opt_reply r = {
	    .magic = htobe64(NBD_MAGIC_OPT_REPLY),
	    .option = htobe32(option),
	    .type = htobe32(type),
	    .len = htobe32((uint32_t)(head_len + tail_len)),
	};

	nbd_buf_put(out, &r, sizeof(r));
	nbd_buf_put(out, head, head_len);
	nbd_buf_put(out, tail, tail_len);
}

static void nbd_opt_reply(struct nbd_buf *out, uint32_t option, uint32_t type, const void *data,
			  size_t len)
{
	nbd_opt_reply2(out, option, type, data, len, NULL, 0);
}

/* An error reply with a message for the human behind the client. */
static enum nbd_opt_action nbd_opt_error(struct nbd_buf *out, uint32_t option, uint32_t type,
					 const char *msg)
{
	nbd_opt_reply(out, option, type, msg, strlen(msg));
	return NBD_OPT_CONTINUE;
}

uint16_t nbd_transmission_flags(const struct nbd_opt_ctx *ctx)
{
	/* CAN_MULTI_CONN: there is no cache above the backend, and a flush is
	 * an fdatasync of the shared file, covering every connection's
	 * completed writes. */
	uint16_t flags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_CAN_MULTI_CONN |
			 NBD_FLAG_SEND_CACHE;

	if (ctx->read_only)
		flags |= NBD_FLAG_READ_ONLY;
	else
		flags |= NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES |
			 NBD_FLAG_SEND_FAST_ZERO;
	if (ctx->structured)
		flags |= NBD_FLAG_SEND_DF;
	return flags;
}

/* The server has one export: its own name, or the empty name that means
 * "the default export", selects it. */
static bool nbd_opt_name_is_export(const struct nbd_opt_ctx *ctx, const uint8_t *name, uint32_t len)
{
	return len == 0 || (strlen(ctx->name) == len && memcmp(ctx->name, name, len) == 0);
}

static enum nbd_opt_action nbd_opt_export_name(struct nbd_opt_ctx *ctx, const uint8_t *data,
					       uint32_t len, struct nbd_buf *out)
{
	struct nbd_wire_export_name_reply r;
	static const uint8_t zeroes[NBD_ZERO_PAD_LEN];

	/* This option cannot answer with an error: a wrong name closes. */
	if (len > NBD_STRING_MAX || !nbd_opt_name_is_export(ctx, data, len)) {
		ctx->why = "NBD_OPT_EXPORT_NAME: no such export, and no way to say so";
		return NBD_OPT_CLOSE;
	}
	r.size = htobe64(ctx->size);
	r.flags = htobe16(nbd_transmission_flags(ctx));
	nbd_buf_put(out, &r, sizeof(r));
	if (!ctx->no_zeroes)
		nbd_buf_put(out, zeroes, sizeof(zeroes));
	return NBD_OPT_TRANSMIT;
}

static enum nbd_opt_action nbd_opt_list(struct nbd_opt_ctx *ctx, uint32_t len, struct nbd_buf *out)
{
	uint8_t name_len[4];
	size_t nlen = strlen(ctx->name);
	const char *desc = ctx->description ? ctx->description : "";

	if (len)
		return nbd_opt_error(out, NBD_OPT_LIST, NBD_REP_ERR_INVALID,
				     "NBD_OPT_LIST takes no data");
	nbd_put32(name_len, (uint32_t)nlen);
	{
		struct nbd_buf body = {0};

		nbd_buf_put(&body, name_len, sizeof(name_len));
		nbd_buf_put(&body, ctx->name, nlen);
		nbd_buf_put(&body, desc, strlen(desc));
		if (body.error)
			out->error = body.error;
		else
			nbd_opt_reply(out, NBD_OPT_LIST, NBD_REP_SERVER, body.data, body.len);
		nbd_buf_free(&body);
	}
	nbd_opt_reply(out, NBD_OPT_LIST, NBD_REP_ACK, NULL, 0);
	return NBD_OPT_CONTINUE;
}

static void nbd_opt_info_replies(const struct nbd_opt_ctx *ctx, uint32_t option, bool want_name,
				 bool want_desc, struct nbd_buf *out)
{
	struct nbd_wire_info_export ex = {
	    .type = htobe16(NBD_INFO_EXPORT),
	    .size = htobe64(ctx->size),
	    .flags = htobe16(nbd_transmission_flags(ctx)),
	};
	/* Minimum 1: unaligned requests are served by read-modify-write. */
	struct nbd_wire_info_block_size bs = {
	    .type = htobe16(NBD_INFO_BLOCK_SIZE),
	    .minimum = htobe32(1),
	    .preferred = htobe32(ctx->sector_size),
	    .maximum = htobe32(NBD_MAX_PAYLOAD),
	};
	uint8_t type[2];

	nbd_opt_reply(out, option, NBD_REP_INFO, &ex, sizeof(ex));
	nbd_opt_reply(out, option, NBD_REP_INFO, &bs, sizeof(bs));
	if (want_name) {
		nbd_put16(type, NBD_INFO_NAME);
		nbd_opt_reply2(out, option, NBD_REP_INFO, type, 2, ctx->name, strlen(ctx->name));
	}
	if (want_desc && ctx->description) {
		nbd_put16(type, NBD_INFO_DESCRIPTION);
		nbd_opt_reply2(out, option, NBD_REP_INFO, type, 2, ctx->description,
			       strlen(ctx->description));
	}
	nbd_opt_reply(out, option, NBD_REP_ACK, NULL, 0);
}

/* NBD_OPT_INFO and NBD_OPT_GO: u32 name length, name, u16 count, u16 types. */
static enum nbd_opt_action nbd_opt_info_go(struct nbd_opt_ctx *ctx, uint32_t option,
					   const uint8_t *data, uint32_t len, struct nbd_buf *out)
{
	uint32_t name_len;
	uint16_t nr_info;
	bool want_name = false, want_desc = false;

	if (len < 6)
		return nbd_opt_error(out, option, NBD_REP_ERR_INVALID, "option data too short");
	name_len = nbd_get32(data);
	if (name_len > len - 6 || name_len > NBD_STRING_MAX)
		return nbd_opt_error(out, option, NBD_REP_ERR_INVALID,
				     "export name length over the option's data");
	nr_info = nbd_get16(data + 4 + name_len);
	if ((uint64_t)len != 4ull + name_len + 2 + 2ull * nr_info)
		return nbd_opt_error(out, option, NBD_REP_ERR_INVALID,
				     "information request count does not match the option length");
	for (uint32_t i = 0; i < nr_info; i++) {
		uint16_t type = nbd_get16(data + 4 + name_len + 2 + 2 * i);

		want_name |= type == NBD_INFO_NAME;
		want_desc |= type == NBD_INFO_DESCRIPTION;
	}
	if (!nbd_opt_name_is_export(ctx, data + 4, name_len))
		return nbd_opt_error(out, option, NBD_REP_ERR_UNKNOWN, "no export of that name");
	nbd_opt_info_replies(ctx, option, want_name, want_desc, out);
	return option == NBD_OPT_GO ? NBD_OPT_TRANSMIT : NBD_OPT_CONTINUE;
}

static enum nbd_opt_action nbd_opt_structured(struct nbd_opt_ctx *ctx, uint32_t len,
					      struct nbd_buf *out)
{
	if (len)
		return nbd_opt_error(out, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ERR_INVALID,
				     "NBD_OPT_STRUCTURED_REPLY takes no data");
	if (ctx->structured)
		return nbd_opt_error(out, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ERR_INVALID,
				     "structured replies already negotiated");
	ctx->structured = true;
	nbd_opt_reply(out, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ACK, NULL, 0);
	return NBD_OPT_CONTINUE;
}

enum nbd_meta_match {
	NBD_MATCH_NONE,
	NBD_MATCH_ALLOCATION,
	NBD_MATCH_WILDCARD, /* "base:": lists base:allocation, selects nothing */
	NBD_MATCH_INVALID,  /* no namespace */
};

static enum nbd_meta_match nbd_meta_query_match(const uint8_t *q, uint32_t len)
{
	static const char base[] = "base:";
	static const char alloc[] = NBD_META_BASE_ALLOCATION;

	if (!memchr(q, ':', len))
		return NBD_MATCH_INVALID;
	if (len == strlen(alloc) && !memcmp(q, alloc, len))
		return NBD_MATCH_ALLOCATION;
	if (len == strlen(base) && !memcmp(q, base, len))
		return NBD_MATCH_WILDCARD;
	/* Unknown namespaces and unknown base: leaves are ignored. */
	return NBD_MATCH_NONE;
}

/* NBD_OPT_LIST_META_CONTEXT and NBD_OPT_SET_META_CONTEXT: u32 name length,
 * name, u32 query count, then per query u32 length and the query. */
static enum nbd_opt_action nbd_opt_meta(struct nbd_opt_ctx *ctx, uint32_t option,
					const uint8_t *data, uint32_t len, struct nbd_buf *out)
{
	bool set = option == NBD_OPT_SET_META_CONTEXT;
	bool match = false;
	uint32_t name_len, nr_queries, pos;
	uint8_t id[4];

	if (set)
		ctx->meta_base_allocation = false; /* replaced even when this fails */
	if (!ctx->structured)
		return nbd_opt_error(out, option, NBD_REP_ERR_INVALID,
				     "negotiate structured replies first");
	if (len < 8)
		return nbd_opt_error(out, option, NBD_REP_ERR_INVALID, "option data too short");
	name_len = nbd_get32(data);
	if (name_len > len - 8 || name_len > NBD_STRING_MAX)
		return nbd_opt_error(out, option, NBD_REP_ERR_INVALID,
				     "export name length over the option's data");
	pos = 4 + name_len;
	nr_queries = nbd_get32(data + pos);
	pos += 4;
	for (uint32_t i = 0; i < nr_queries; i++) {
		uint32_t qlen;
		enum nbd_meta_match m;

		if (len - pos < 4)
			return nbd_opt_error(out, option, NBD_REP_ERR_INVALID,
					     "query count over the option's data");
		qlen = nbd_get32(data + pos);
		pos += 4;
		if (qlen > len - pos || qlen > NBD_STRING_MAX)
			return nbd_opt_error(out, option, NBD_REP_ERR_INVALID,
					     "query length over the option's data");
		m = nbd_meta_query_match(data + pos, qlen);
		if (m == NBD_MATCH_INVALID)
			return nbd_opt_error(out, option, NBD_REP_ERR_INVALID,
					     "query without a namespace");
		match |= m == NBD_MATCH_ALLOCATION || (!set && m == NBD_MATCH_WILDCARD);
		pos += qlen;
	}
	if (pos != len)
		return nbd_opt_error(out, option, NBD_REP_ERR_INVALID,
				     "trailing bytes after the queries");
	if (!nbd_opt_name_is_export(ctx, data + 4, name_len))
		return nbd_opt_error(out, option, NBD_REP_ERR_UNKNOWN, "no export of that name");
	if (!set && nr_queries == 0)
		match = true; /* list everything we have */
	if (match) {
		nbd_put32(id, set ? NBD_META_ID_BASE_ALLOCATION : 0);
		nbd_opt_reply2(out, option, NBD_REP_META_CONTEXT, id, sizeof(id),
			       NBD_META_BASE_ALLOCATION, strlen(NBD_META_BASE_ALLOCATION));
	}
	if (set)
		ctx->meta_base_allocation = match;
	nbd_opt_reply(out, option, NBD_REP_ACK, NULL, 0);
	return NBD_OPT_CONTINUE;
}

static enum nbd_opt_action nbd_opt_starttls(struct nbd_opt_ctx *ctx, uint32_t len,
					    struct nbd_buf *out)
{
	if (len)
		return nbd_opt_error(out, NBD_OPT_STARTTLS, NBD_REP_ERR_INVALID,
				     "NBD_OPT_STARTTLS takes no data");
	/* The spec's answer when TLS is off for policy reasons. */
	if (!ctx->tls_required)
		return nbd_opt_error(out, NBD_OPT_STARTTLS, NBD_REP_ERR_POLICY,
				     "TLS is not configured on this server");
	if (ctx->tls_active)
		return nbd_opt_error(out, NBD_OPT_STARTTLS, NBD_REP_ERR_INVALID,
				     "TLS is already active");
	/* Nothing negotiated before the upgrade may survive it. */
	ctx->structured = false;
	ctx->meta_base_allocation = false;
	nbd_opt_reply(out, NBD_OPT_STARTTLS, NBD_REP_ACK, NULL, 0);
	return NBD_OPT_START_TLS;
}

/* FORCEDTLS: before TLS only STARTTLS and ABORT are served. */
static bool nbd_opt_refused_before_tls(struct nbd_opt_ctx *ctx, uint32_t option,
				       enum nbd_opt_action *action, struct nbd_buf *out)
{
	if (!ctx->tls_required || ctx->tls_active || option == NBD_OPT_STARTTLS ||
	    option == NBD_OPT_ABORT)
		return false;
	if (option == NBD_OPT_EXPORT_NAME) {
		/* It cannot answer with an error: the spec says close. */
		ctx->why = "NBD_OPT_EXPORT_NAME before NBD_OPT_STARTTLS; TLS is required";
		*action = NBD_OPT_CLOSE;
	} else {
		*action = nbd_opt_error(out, option, NBD_REP_ERR_TLS_REQD,
					"TLS is required: send NBD_OPT_STARTTLS first");
	}
	return true;
}

enum nbd_opt_action nbd_option_handle(struct nbd_opt_ctx *ctx, uint32_t option, const uint8_t *data,
				      uint32_t len, struct nbd_buf *out)
{
	enum nbd_opt_action action;
	char msg[64];

	if (nbd_opt_refused_before_tls(ctx, option, &action, out))
		return action;
	switch (option) {
	case NBD_OPT_EXPORT_NAME:
		return nbd_opt_export_name(ctx, data, len, out);
	case NBD_OPT_ABORT:
		/* Data is ignored, as the spec asks. */
		nbd_opt_reply(out, option, NBD_REP_ACK, NULL, 0);
		return NBD_OPT_ABORTED;
	case NBD_OPT_LIST:
		return nbd_opt_list(ctx, len, out);
	case NBD_OPT_STARTTLS:
		return nbd_opt_starttls(ctx, len, out);
	case NBD_OPT_INFO:
	case NBD_OPT_GO:
		return nbd_opt_info_go(ctx, option, data, len, out);
	case NBD_OPT_STRUCTURED_REPLY:
		return nbd_opt_structured(ctx, len, out);
	case NBD_OPT_LIST_META_CONTEXT:
	case NBD_OPT_SET_META_CONTEXT:
		return nbd_opt_meta(ctx, option, data, len, out);
	default:
		snprintf(msg, sizeof(msg), "option %u is not supported", option);
		return nbd_opt_error(out, option, NBD_REP_ERR_UNSUP, msg);
	}
}
