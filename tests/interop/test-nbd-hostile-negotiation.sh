#!/usr/bin/env bash
# Hostile clients during negotiation against the real `cryptblk serve`: the
# triggers of published NBD server CVEs (name lengths 0 and 0xffffffff,
# option lengths of 4 GiB or shorter than their own fields, long names that
# could be echoed into error replies, INFO then GO, STRUCTURED_REPLY twice)
# and a disconnect at every byte of negotiation. After each case nbdinfo
# still works against the same server and VmRSS stays bounded.
. "$SRCDIR/tests/interop/lib/nbd-server.sh"
nbd_need_serve
nbd_need nbdinfo python3

nbd_luks_image "$TMP/img" $((4 * 1024 * 1024)) 512
SOCK="$TMP/nbd.sock"
"$CRYPTBLK" serve "$TMP/img" --key-file "$TMP/key" --nbd "unix:$SOCK" --threads 2 \
	2>"$TMP/server.log" &
SERVER_PID=$!
nbd_wait_socket

NBD_SOCK=$SOCK NBD_PID=$SERVER_PID PYTHONPATH="$SRCDIR/tests/interop/lib" python3 - <<'PY'
import struct
from nbdraw import *

path, pid = env_server()
h = Harness(path, pid, rss_limit_kib=vmrss_kib(pid) + 64 * 1024)
SIZE = 4 * 1024 * 1024


def negotiated():
    c = Client(path)
    c.start()
    return c


def name_len_0_is_the_default_export(opt):
    def run():
        c = negotiated()
        c.opt(opt, Client.info_data(b"", name_len=0))
        replies = c.opt_final()
        assert replies[-1][1] == REP_ACK, replies
        if opt == OPT_GO:
            assert c.request(CMD_READ, 0, 512) and c.simple_reply(512)[0] == 0
        c.close()
    return run


def name_len_huge_is_invalid(opt):
    # The name length claims 4 GiB - 1 inside an option of 6 bytes.
    def run():
        c = negotiated()
        c.opt(opt, Client.info_data(b"", name_len=0xFFFFFFFF))
        _, rtype, _, n = c.opt_reply()
        assert rtype == REP_ERR_INVALID, hex(rtype)
        assert n < 1024
        c.opt(OPT_ABORT)
        c.opt_final()
        c.close()
    return run


def export_name_len_0_enters_transmission():
    c = negotiated()
    c.opt(OPT_EXPORT_NAME, b"")
    size, _ = struct.unpack(">QH", c.recv_exact(10))
    assert size == SIZE
    c.request(CMD_READ, 0, 4096)
    assert c.simple_reply(4096)[0] == 0
    c.close()


def option_length_4g_closes(opt):
    # Only the header arrives: the server must not wait for, or allocate,
    # 4 GiB; it closes.
    def run():
        c = negotiated()
        c.opt(opt, b"", length=0xFFFFFFFF)
        assert c.expect_closed()
    return run


def option_shorter_than_its_fields(opt, data):
    def run():
        c = negotiated()
        c.opt(opt, data)
        _, rtype, _, _ = c.opt_reply()
        assert rtype == REP_ERR_INVALID, hex(rtype)
        c.close()
    return run


def long_name_is_not_echoed(opt):
    # A name at the limit of the option's length: the error reply must stay
    # small whatever the name.
    def run():
        c = negotiated()
        for n in (4096, 4097, 60000):
            name = b"N" * n
            c.opt(opt, Client.info_data(name))
            _, rtype, data, rlen = c.opt_reply()
            assert rtype & REP_ERR, hex(rtype)
            assert rlen <= 512 and b"N" * 64 not in data, rlen
        c.close()
    return run


def long_list_meta_name():
    c = negotiated()
    name = b"M" * 60000
    q = b"base:allocation"
    c.opt(OPT_STRUCTURED_REPLY)
    c.opt_final()
    c.opt(9, struct.pack(">I", len(name)) + name + struct.pack(">II", 1, len(q)) + q)
    _, rtype, data, rlen = c.opt_reply()
    assert rtype & REP_ERR and rlen <= 512, (hex(rtype), rlen)
    c.close()


def info_then_go():
    c = negotiated()
    c.opt(OPT_INFO, Client.info_data())
    assert c.opt_final()[-1][1] == REP_ACK
    size, _ = c.go()
    assert size == SIZE
    c.request(CMD_WRITE, 512, 512, payload=b"i" * 512)
    assert c.simple_reply()[0] == 0
    c.request(CMD_READ, 512, 512)
    assert c.simple_reply(512)[2] == b"i" * 512
    c.close()


def structured_reply_twice():
    c = negotiated()
    c.opt(OPT_STRUCTURED_REPLY)
    assert c.opt_final()[-1][1] == REP_ACK
    c.opt(OPT_STRUCTURED_REPLY)
    assert c.opt_final()[-1][1] == REP_ERR_INVALID
    c.go()
    c.request(CMD_READ, 0, 512)
    flags, rtype, _, data = c.chunk()
    assert rtype == REPLY_TYPE_OFFSET_DATA and flags & REPLY_FLAG_DONE
    c.close()


def disconnect_everywhere():
    # Every prefix of a complete negotiation, then EOF; and a few prefixes
    # of a STRUCTURED_REPLY/INFO/GO conversation cut after each option.
    go = Client.opt_bytes(OPT_GO, Client.info_data(b"", (INFO_EXPORT,)))
    script = [struct.pack(">I", 3), Client.opt_bytes(OPT_STRUCTURED_REPLY),
              Client.opt_bytes(OPT_INFO, Client.info_data()), go]
    stream = b"".join(script)
    for cut in range(len(stream) + 1):
        c = Client(path)
        if cut % 2:
            c.greeting()  # half of them read the greeting first
        c.send(stream[:cut])
        c.close()
    # Cut while the greeting or option replies are still unread.
    for cut in (0, 1, 17, 18):
        c = Client(path)
        if cut:
            c.recv_exact(cut)
        c.close()


for opt in (OPT_INFO, OPT_GO):
    h.case("name length 0, option %d" % opt, name_len_0_is_the_default_export(opt))
    h.case("name length 0xffffffff, option %d" % opt, name_len_huge_is_invalid(opt))
h.case("EXPORT_NAME with an empty name", export_name_len_0_enters_transmission)
for opt in (OPT_EXPORT_NAME, OPT_INFO, OPT_GO, OPT_LIST, 0x7FFF):
    h.case("option %#x with length 4 GiB - 1" % opt, option_length_4g_closes(opt))
for opt in (OPT_INFO, OPT_GO):
    h.case("option %d of 0 bytes" % opt, option_shorter_than_its_fields(opt, b""))
    h.case("option %d of 5 bytes" % opt, option_shorter_than_its_fields(opt, b"\0" * 5))
    h.case("option %d: info count past the data" % opt,
           option_shorter_than_its_fields(opt, struct.pack(">IH", 0, 5) + b"\0\1"))
    h.case("option %d: long unknown names not echoed" % opt, long_name_is_not_echoed(opt))
h.case("LIST_META_CONTEXT: long name not echoed", long_list_meta_name)
h.case("INFO then GO", info_then_go)
h.case("STRUCTURED_REPLY twice", structured_reply_twice)
h.case("disconnect at every byte of negotiation", disconnect_everywhere)
h.summary()
PY
nbd_stop
echo ok
