/* libFuzzer target: the NBD handshake options (NBD_OPT_*), through
 * nbd_option_handle(), which parses an option's data and builds its replies
 * into a buffer without any I/O.
 *
 * Input: one control byte (bit 0 read-only export, bit 1 with a
 * description, bit 2 4096-byte sectors, bit 3 export named "" instead of
 * "fuzz", bit 4 client asked for no zeroes, bit 5 the server requires TLS),
 * then options, each a
 * big-endian u32 option number, a big-endian u16 data length (cut to what
 * is left) and the data. The option framing on the wire (magic, u32 length,
 * limit) is fuzz_nbd_stream's. Options run in order, with the negotiated
 * state carried over, until one ends the handshake; after an accepted
 * NBD_OPT_STARTTLS the options go on as if TLS were up, as the handshake
 * does.
 *
 * Every reply stream is checked against the protocol document, written out
 * here independently of the server's wire.h: each option gets replies with
 * the reply magic and its own number, exactly one final reply (ACK or an
 * error) and it comes last; export facts match the export; GO and INFO
 * describe the export before their ACK; a metadata context needs
 * structured replies; a server that requires TLS answers nothing but
 * STARTTLS and ABORT before it, and STARTTLS forgets what was negotiated. */
#include "helper_fuzz.h"
#include "frontend/nbd/nbd_int.h"

#include <stdint.h>
#include <string.h>

#define REPLY_MAGIC   0x0003e889045565a9ull
#define REP_ACK	      1u
#define REP_SERVER    2u
#define REP_INFO      3u
#define REP_META      4u
#define REP_ERR	      (1u << 31)
#define REP_TLS_REQD  (REP_ERR | 5u)
#define OPT_EXPORT    1u
#define OPT_ABORT     2u
#define OPT_STARTTLS  5u
#define OPT_INFO      6u
#define OPT_GO	      7u
#define OPT_SET_META  10u
#define INFO_EXPORT   0u
#define INFO_BLKSIZE  3u
#define FLAG_RO	      (1u << 1)
#define FLAGS_WRITING ((1u << 3) | (1u << 5) | (1u << 6) | (1u << 11)) /* FUA TRIM ZEROES FAST */
#define EXPORT_SIZE   (1ull << 30)
#define TEXT_MAX      4096u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static void info_check(const struct nbd_opt_ctx *ctx, const uint8_t *d, uint32_t len)
{
	uint64_t min, pref, max;

	if (len < 2)
		fuzz_fail("nbd: NBD_REP_INFO of %u bytes", len);
	if (be(d, 2) == INFO_EXPORT) {
		if (len != 12 || be(d + 2, 8) != ctx->size || !(be(d + 10, 2) & 1))
			fuzz_fail("nbd: NBD_INFO_EXPORT malformed or wrong size");
		if (ctx->read_only &&
		    (!(be(d + 10, 2) & FLAG_RO) || (be(d + 10, 2) & FLAGS_WRITING)))
			fuzz_fail("nbd: read-only export offers writing commands");
	} else if (be(d, 2) == INFO_BLKSIZE) {
		min = len == 14 ? be(d + 2, 4) : 0;
		pref = len == 14 ? be(d + 6, 4) : 0;
		max = len == 14 ? be(d + 10, 4) : 0;
		if (!min || (min & (min - 1)) || (pref & (pref - 1)) || min > pref || pref > max)
			fuzz_fail("nbd: NBD_INFO_BLOCK_SIZE %llu/%llu/%llu",
				  (unsigned long long)min, (unsigned long long)pref,
				  (unsigned long long)max);
	}
}

/* The replies in out[0..len) to `option`: framing, one final reply last. */
static void replies_check(const struct nbd_opt_ctx *ctx, uint32_t option, const uint8_t *out,
			  size_t len, bool *acked, bool *export_info)
{
	size_t pos = 0;
	uint32_t type = 0;

	*acked = *export_info = false;
	if (len == 0)
		fuzz_fail("nbd: option %u got no reply", option);
	while (pos < len) {
		uint32_t rlen;

		if (len - pos < 20 || be(out + pos, 8) != REPLY_MAGIC ||
		    be(out + pos + 8, 4) != option)
			fuzz_fail("nbd: option %u: reply header malformed at %zu", option, pos);
		if (type == REP_ACK || (type & REP_ERR))
			fuzz_fail("nbd: option %u: a reply after the final one", option);
		type = (uint32_t)be(out + pos + 12, 4);
		rlen = (uint32_t)be(out + pos + 16, 4);
		pos += 20;
		if (rlen > len - pos)
			fuzz_fail("nbd: option %u: reply length %u past the replies", option, rlen);
		if (type == REP_INFO) {
			info_check(ctx, out + pos, rlen);
			*export_info |= rlen >= 2 && be(out + pos, 2) == INFO_EXPORT;
		} else if (type == REP_META) {
			if (!ctx->structured || rlen < 5)
				fuzz_fail("nbd: metadata context without structured replies");
		} else if (type & REP_ERR) {
			if (rlen > TEXT_MAX)
				fuzz_fail("nbd: error message of %u bytes", rlen);
		} else if ((type == REP_ACK && rlen) || (type != REP_ACK && type != REP_SERVER)) {
			fuzz_fail("nbd: option %u: reply type 0x%x of %u bytes", option, type,
				  rlen);
		}
		pos += rlen;
	}
	if (type != REP_ACK && !(type & REP_ERR))
		fuzz_fail("nbd: option %u: no final reply", option);
	*acked = type == REP_ACK;
}

static void export_reply_check(const struct nbd_opt_ctx *ctx, const struct nbd_buf *out)
{
	size_t want = ctx->no_zeroes ? 10 : 134;

	if (out->len != want || be(out->data, 8) != ctx->size || !(be(out->data + 8, 2) & 1))
		fuzz_fail("nbd: NBD_OPT_EXPORT_NAME answer of %zu bytes, want %zu", out->len, want);
	for (size_t i = 10; i < out->len; i++)
		if (out->data[i])
			fuzz_fail("nbd: NBD_OPT_EXPORT_NAME padding not zero");
}

/* FORCEDTLS (the spec's name): before TLS, every option but STARTTLS and
 * ABORT is refused with NBD_REP_ERR_TLS_REQD, EXPORT_NAME by closing. */
static void before_tls_check(uint32_t option, enum nbd_opt_action act, const struct nbd_buf *out)
{
	if (option == OPT_STARTTLS || option == OPT_ABORT)
		return;
	if (option == OPT_EXPORT ? act != NBD_OPT_CLOSE
				 : out->len < 20 || be(out->data + 12, 4) != REP_TLS_REQD)
		fuzz_fail("nbd: option %u served before TLS on a server that requires it", option);
}

/* One option; false when it ended the handshake. */
static bool option_run(struct nbd_opt_ctx *ctx, uint32_t option, const uint8_t *d, uint32_t len)
{
	struct nbd_buf out = {0};
	bool forced = ctx->tls_required && !ctx->tls_active;
	enum nbd_opt_action act = nbd_option_handle(ctx, option, d, len, &out);
	bool acked = false, export_info = false;

	if (out.error)
		fuzz_fail("nbd: option %u: reply buffer error %d", option, out.error);
	if (act == NBD_OPT_CLOSE) {
		if (option != OPT_EXPORT || out.len || !ctx->why)
			fuzz_fail("nbd: option %u closes the connection", option);
	} else if (act == NBD_OPT_TRANSMIT && option == OPT_EXPORT) {
		export_reply_check(ctx, &out);
	} else {
		replies_check(ctx, option, out.data, out.len, &acked, &export_info);
		if ((option == OPT_GO || option == OPT_INFO) && acked && !export_info)
			fuzz_fail("nbd: option %u acknowledged without NBD_INFO_EXPORT", option);
		if (act == NBD_OPT_TRANSMIT && (option != OPT_GO || !acked))
			fuzz_fail("nbd: option %u starts transmission", option);
		if (act == NBD_OPT_ABORTED && (option != OPT_ABORT || !acked))
			fuzz_fail("nbd: option %u aborts", option);
	}
	if (forced)
		before_tls_check(option, act, &out);
	if (act == NBD_OPT_START_TLS) {
		if (option != OPT_STARTTLS || !acked || !forced)
			fuzz_fail("nbd: option %u starts TLS", option);
		if (ctx->structured || ctx->meta_base_allocation)
			fuzz_fail("nbd: negotiated state survives NBD_OPT_STARTTLS");
		ctx->tls_active = true;
	}
	if (ctx->meta_base_allocation && !ctx->structured)
		fuzz_fail("nbd: base:allocation selected without structured replies");
	if (option == OPT_SET_META && !acked && ctx->meta_base_allocation)
		fuzz_fail("nbd: a failed NBD_OPT_SET_META_CONTEXT left a context selected");
	nbd_buf_free(&out);
	return act == NBD_OPT_CONTINUE || act == NBD_OPT_START_TLS;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nbd_opt_ctx ctx = {0};
	size_t pos = 1;

	if (size < 1)
		return 0;
	ctx.read_only = data[0] & 1;
	ctx.description = data[0] & 2 ? "a fuzzed export" : NULL;
	ctx.sector_size = data[0] & 4 ? 4096 : 512;
	ctx.name = data[0] & 8 ? "" : "fuzz";
	ctx.no_zeroes = data[0] & 16;
	ctx.tls_required = data[0] & 32;
	ctx.size = EXPORT_SIZE;
	while (size - pos >= 6) {
		uint32_t option = (uint32_t)be(data + pos, 4);
		size_t len = (size_t)be(data + pos + 4, 2);

		pos += 6;
		if (len > size - pos)
			len = size - pos;
		if (!option_run(&ctx, option, data + pos, (uint32_t)len))
			break;
		pos += len;
	}
	return 0;
}
