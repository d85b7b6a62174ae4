"""Kill -9 `cryptblk serve` at random moments under load; check what survived.

Used by tests/interop/test-serve-crash-kill9-flush.sh. Each round:
  1. start the server (the previous round's image, unchanged);
  2. check the previous round's writes against the model (below), then read
     the whole checked region as this round's starting contents;
  3. start fio (nbd engine, random 4 KiB writes with verify_backlog) on the
     rest of the volume, as load;
  4. from one libnbd connection, keep up to QD writes of unique 4 KiB blocks
     in flight (some with FUA), never two on the same block at once, and a
     FLUSH now and then; note the order of every issue and completion;
  5. after a random delay (from the round's printed seed), SIGKILL the
     server, collect what the connection still delivers, stop fio;
  6. check the LUKS metadata area is byte-identical to before.

The model, per block: writes to a block are serialised, so what lies on
disk is the last write of that block that reached the kernel. A write is
*covered* when it was acknowledged before the last completed FLUSH was
issued, or was an acknowledged FUA write. The block must hold the last
covered write, or a write issued after it (landed or not); a block with no
covered write may hold its starting contents or any write of this round;
nothing else. This is the NBD promise, and what a power cut would test.

A kill -9 of a user-space server loses nothing the kernel already has (the
page cache survives it), so a stricter rule holds for this server, which
keeps no write cache of its own: every *acknowledged* write survives. It is
checked too; breaking it would mean a reply went out before the write was
issued. Power loss is not simulated: fdatasync's durability is not tested.
"""

import argparse
import hashlib
import os
import random
import re
import signal
import struct
import subprocess
import sys
import time

import nbd

BLOCK = 4096
QD = 8


def log(msg):
    print(msg, flush=True)


class Server:
    def __init__(self, args):
        self.args = args
        self.proc = None

    def start(self):
        sock = self.args.sock
        if os.path.exists(sock):
            os.unlink(sock)
        self.proc = subprocess.Popen(
            [self.args.cryptblk, "serve", self.args.image, "--key-file", self.args.key,
             "--nbd", "unix:" + sock, "--threads", "2"],
            stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit("server exited early with %d" % self.proc.returncode)
            if os.path.exists(sock):  # created by listen()
                return
            time.sleep(0.02)
        raise SystemExit("server socket never appeared")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait()
        if rc != 0:
            raise SystemExit("server exited %d on SIGTERM" % rc)


def connect(uri):
    h = nbd.NBD()
    h.connect_uri(uri)
    return h


def read_region(h, nblocks):
    out = []
    step = 64
    for first in range(0, nblocks, step):
        n = min(step, nblocks - first)
        data = h.pread(n * BLOCK, first * BLOCK)
        for i in range(n):
            out.append(hashlib.sha1(data[i * BLOCK:(i + 1) * BLOCK]).digest())
    return out


class Round:
    """One round's writes, flushes and the order they happened in."""

    def __init__(self, number, seed, nblocks, start):
        self.number = number
        self.seed = seed
        self.rng = random.Random(seed)
        self.start = start  # block -> sha1 at the start of the round
        self.writes = [[] for _ in range(nblocks)]  # per block, issue order
        self.events = 0
        self.flushes_done = []  # issue events of completed flushes
        self.seq = 0
        self.acked = self.fua_acked = self.failed = self.flushes_failed = 0

    def event(self):
        self.events += 1
        return self.events

    def content(self, block):
        self.seq += 1
        head = struct.pack("<4sIIQ", b"CBCR", self.number, block, self.seq)
        return head + self.rng.randbytes(BLOCK - len(head))

    def run(self, h, server, delay):
        nblocks = len(self.writes)
        inflight = {}  # cookie -> (kind, record)
        busy = set()
        flush_inflight = False
        deadline = time.monotonic() + delay
        killed = False
        while True:
            if not killed and time.monotonic() >= deadline:
                server.kill()  # with writes and maybe a flush in flight
                killed = True
            if not killed:
                while len(inflight) < QD:
                    if not flush_inflight and self.rng.random() < 0.04:
                        rec = {"issued": self.event(), "done": None}
                        inflight[h.aio_flush()] = ("flush", rec)
                        flush_inflight = True
                        continue
                    block = self.rng.randrange(nblocks)
                    if block in busy:
                        continue
                    data = self.content(block)
                    fua = self.rng.random() < 0.2
                    rec = {"block": block, "sha": hashlib.sha1(data).digest(), "fua": fua,
                           "issued": self.event(), "acked": None, "buf": data}
                    flags = nbd.CMD_FLAG_FUA if fua else 0
                    inflight[h.aio_pwrite(data, block * BLOCK, flags=flags)] = ("write", rec)
                    self.writes[block].append(rec)
                    busy.add(block)
            try:
                h.poll(50)
            except nbd.Error:
                pass
            dead = h.aio_is_closed() or h.aio_is_dead()
            for cookie in list(inflight):
                kind, rec = inflight[cookie]
                try:
                    if not h.aio_command_completed(cookie):
                        if not dead:
                            continue
                        ok = False  # never answered
                    else:
                        ok = True
                except nbd.Error:
                    ok = False
                del inflight[cookie]
                if kind == "flush":
                    flush_inflight = False
                    if ok:
                        rec["done"] = self.event()
                        self.flushes_done.append(rec["issued"])
                    else:
                        self.flushes_failed += 1
                    continue
                rec.pop("buf")
                busy.discard(rec["block"])
                if ok:
                    rec["acked"] = self.event()
                    self.acked += 1
                    self.fua_acked += rec["fua"]
                else:
                    self.failed += 1
                if not ok and not killed:
                    raise SystemExit("round %d: write to block %d failed before the kill"
                                     % (self.number, rec["block"]))
            if killed and (dead or not inflight):
                break
        for cookie, (kind, rec) in inflight.items():
            if kind == "write":
                rec.pop("buf", None)
                self.failed += 1

    def damage(self, image, data_offset, raw_start):
        """Self-test: put back the round's starting ciphertext of one block
        whose covered write must survive, as a server that lost it would."""
        last_flush = max(self.flushes_done, default=0)
        for block, writes in enumerate(self.writes):
            if any(w["acked"] is not None and (w["fua"] or w["acked"] < last_flush)
                   for w in writes):
                with open(image, "r+b") as f:
                    f.seek(data_offset + block * BLOCK)
                    f.write(raw_start[block * BLOCK:(block + 1) * BLOCK])
                log("self-test: block %d put back to its state before round %d" %
                    (block, self.number))
                return
        raise SystemExit("self-test: no covered write to undo; run longer")

    def check(self, found):
        """found: block -> sha1 read after the restart. Returns the number of
        blocks that break the rule: (flush/FUA, acknowledged)."""
        last_flush = max(self.flushes_done, default=0)
        lost_flush = lost_acked = covered = 0
        for block, writes in enumerate(self.writes):
            have = found[block]
            allowed_all = {self.start[block]} | {w["sha"] for w in writes}
            if have not in allowed_all:
                log("round %d: block %d holds data never written to it" %
                    (self.number, block))
                lost_flush += 1
                continue
            cov = [i for i, w in enumerate(writes) if w["acked"] is not None and
                   (w["fua"] or w["acked"] < last_flush)]
            if cov:
                covered += 1
                ok = {w["sha"] for w in writes[cov[-1]:]}
                if have not in ok:
                    why = ("acknowledged FUA write" if writes[cov[-1]]["fua"] else
                           "acknowledged before the last completed flush")
                    log("round %d: block %d lost write %d (%s)" %
                        (self.number, block, cov[-1], why))
                    lost_flush += 1
            acked = [i for i, w in enumerate(writes) if w["acked"] is not None]
            if acked and have not in {w["sha"] for w in writes[acked[-1]:]}:
                log("round %d: block %d lost acknowledged write %d" %
                    (self.number, block, acked[-1]))
                lost_acked += 1
        return lost_flush, lost_acked, covered


def fio_start(args, seed, uri, offset, size):
    cmd = ["fio", "--name=load", "--ioengine=nbd", "--uri=" + uri, "--rw=randwrite",
           "--bs=4k", "--iodepth=8", "--offset=%d" % offset, "--size=%d" % size,
           "--time_based", "--runtime=30", "--verify=crc32c", "--verify_backlog=32",
           "--randseed=%d" % seed, "--output=" + args.fio_out]
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT)


def fio_region_hash(args):
    with open(args.image, "rb") as f:
        f.seek(args.data_offset + args.region)
        return hashlib.sha1(f.read(args.volume_size - args.region)).digest()


def fio_wait_writing(args):
    """Until fio's first writes reach the image: the kill must find it busy."""
    before = fio_region_hash(args)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        time.sleep(0.02)
        if fio_region_hash(args) != before:
            return
    log("fio wrote nothing within 5 s; the round runs without its load")


def fio_finish(proc, args, round_no):
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    try:
        with open(args.fio_out) as f:
            text = f.read()
    except OSError:
        text = ""
    # The kill ends fio with I/O errors; a failed verify would be a bug.
    if re.search(r"verify.*(fail|bad|mismatch)|bad magic", text, re.I):
        raise SystemExit("round %d: fio verify failed:\n%s" % (round_no, text))
    m = re.search(r"issued rwts: total=(\d+),(\d+)", text)
    return (int(m.group(2)), int(m.group(1))) if m else (0, 0)


def header_bytes(path, n):
    with open(path, "rb") as f:
        return f.read(n)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cryptblk", required=True)
    p.add_argument("--image", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--sock", required=True)
    p.add_argument("--fio-out", required=True)
    p.add_argument("--data-offset", type=int, required=True)
    p.add_argument("--volume-size", type=int, required=True)
    p.add_argument("--region", type=int, required=True, help="bytes checked")
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--no-fio", action="store_true")
    p.add_argument("--inject-loss", action="store_true",
                   help="self-test: undo one covered write; the check must fail")
    args = p.parse_args()

    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    log("seed %d (rerun with CRYPTBLK_CRASH_SEED=%d)" % (seed, seed))
    master = random.Random(seed)
    uri = "nbd+unix:///?socket=" + args.sock
    nblocks = args.region // BLOCK
    header = header_bytes(args.image, args.data_offset)
    server = Server(args)
    prev = None
    totals = {"acked": 0, "fua": 0, "flushes": 0, "covered": 0, "lost_flush": 0,
              "lost_acked": 0}
    t0 = time.monotonic()
    for number in range(args.rounds + 1):
        server.start()
        h = connect(uri)
        found = read_region(h, nblocks)
        if prev:
            lost_flush, lost_acked, covered = prev.check(found)
            totals["covered"] += covered
            totals["lost_flush"] += lost_flush
            totals["lost_acked"] += lost_acked
            log("round %d: %d writes acknowledged (%d FUA), %d unanswered, "
                "%d flushes completed: %d blocks covered by flush/FUA, %d lost, "
                "%d acknowledged lost" %
                (prev.number, prev.acked, prev.fua_acked, prev.failed,
                 len(prev.flushes_done), covered, lost_flush, lost_acked))
        if number == args.rounds:
            h.shutdown()
            server.stop()
            break
        rseed = master.randrange(1 << 32)
        rnd = Round(number, rseed, nblocks, found)
        delay = rnd.rng.uniform(0.1, 0.6)
        with open(args.image, "rb") as f:
            f.seek(args.data_offset)
            raw_start = f.read(args.region)
        fio = None
        if not args.no_fio:
            fio = fio_start(args, rseed, uri, args.region, args.volume_size - args.region)
            fio_wait_writing(args)
        rnd.run(h, server, delay)
        del h  # closes the dead connection
        fio_writes = fio_reads = 0
        if fio:
            fio_writes, fio_reads = fio_finish(fio, args, number)
        log("round %d: seed %d: killed after %.2f s; fio did %d writes, %d verify reads" %
            (number, rseed, delay, fio_writes, fio_reads))
        if args.inject_loss:
            rnd.damage(args.image, args.data_offset, raw_start)
        if header_bytes(args.image, args.data_offset) != header:
            raise SystemExit("round %d: the LUKS metadata area changed" % number)
        totals["acked"] += rnd.acked
        totals["fua"] += rnd.fua_acked
        totals["flushes"] += len(rnd.flushes_done)
        prev = rnd
    log("%d rounds in %.1f s: %d writes acknowledged (%d FUA), %d flushes, %d block "
        "checks under flush/FUA; lost under flush/FUA: %d; acknowledged writes lost: %d; "
        "LUKS metadata (%d bytes) unchanged" %
        (args.rounds, time.monotonic() - t0, totals["acked"], totals["fua"],
         totals["flushes"], totals["covered"], totals["lost_flush"], totals["lost_acked"],
         args.data_offset))
    if totals["lost_flush"] or totals["lost_acked"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
