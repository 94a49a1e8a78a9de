#!/usr/bin/env python3
"""Writes the seed corpus of the "tar" fuzz target (fuzz/corpus/tar/).

Run from the repository root: python3 fuzz/tools/make_tar_seeds.py. The
archives are small hand-made build contexts and image layers, the hostile
ones (.., absolute names, symlink and hard link escapes, devices) included.
"""
import gzip
import io
import lzma
import os
import tarfile

OUT = os.path.join("fuzz", "corpus", "tar")


def entry(name, kind=tarfile.REGTYPE, data=b"", **kw):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = kw.pop("mode", 0o755 if kind == tarfile.DIRTYPE else 0o644)
    info.mtime = 1700000000
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    for key, value in kw.items():
        setattr(info, key, value)
    return info, (io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def archive(entries, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for info, data in entries:
            tar.addfile(info, data)
    # Drop the zero padding after the two end blocks: seeds stay small.
    raw = buf.getvalue()
    end = len(raw.rstrip(b"\0"))
    return raw[: (end + 511) // 512 * 512 + 1024]


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def main():
    os.makedirs(OUT, exist_ok=True)
    context = archive([
        entry("Dockerfile", data=b"FROM scratch\nCOPY . /\n"),
        entry("src", tarfile.DIRTYPE),
        entry("src/main.c", data=b"int main(void) { return 0; }\n"),
        entry("src/link", tarfile.SYMTYPE, linkname="main.c"),
        entry("src/hard", tarfile.LNKTYPE, linkname="src/main.c"),
        entry("./src/./dot/../file", data=b"cleaned name\n"),
        entry("fifo", tarfile.FIFOTYPE),
    ])
    write("context.tar", context)
    write("context.tar.gz", gzip.compress(context, mtime=0))
    write("context.tar.xz", lzma.compress(context))
    write("dockerignore.tar", archive([
        entry(".dockerignore", data=b"# comment\n*.log\nbuild/\n!build/keep\n**/tmp\n"),
        entry("Dockerfile", data=b"FROM scratch\n"),
        entry("a.log", data=b"x"), entry("build", tarfile.DIRTYPE),
        entry("build/out", data=b"y"), entry("build/keep", data=b"z"),
        entry("deep/er/tmp/f", data=b"t"),
    ]))
    write("custom_dockerfile.tar", archive([
        entry("ci/Dockerfile.ci", data=b"FROM busybox\nRUN true\n"),
        entry("ci/Dockerfile.ci.dockerignore", data=b"*\n!ci\n"),
        entry("Dockerfile", tarfile.SYMTYPE, linkname="ci/Dockerfile.ci"),
    ]))
    write("dotdot.tar", archive([entry("../escape", data=b"out"), entry("a/../../b", data=b"x")]))
    write("absolute.tar", archive([entry("/tmp/drydock-fuzz-absolute", data=b"abs")]))
    write("symlink_escape.tar", archive([
        entry("up", tarfile.SYMTYPE, linkname="../outside"),
        entry("up/canary", data=b"overwritten\n"),
        entry("abs", tarfile.SYMTYPE, linkname="/tmp"),
        entry("abs/drydock-fuzz-through-symlink", data=b"x"),
    ]))
    write("symlink_replace.tar", archive([
        entry("d", tarfile.SYMTYPE, linkname="."),
        entry("d", tarfile.DIRTYPE),
        entry("d/x", data=b"now a real dir"),
        entry("f", data=b"file"),
        entry("f", tarfile.SYMTYPE, linkname="../outside/canary"),
    ]))
    write("hardlink_escape.tar", archive([
        entry("h1", tarfile.LNKTYPE, linkname="../outside/canary"),
        entry("h2", tarfile.LNKTYPE, linkname="/etc/passwd"),
        entry("s", tarfile.SYMTYPE, linkname="../outside"),
        entry("h3", tarfile.LNKTYPE, linkname="s/canary"),
        entry("h4", tarfile.LNKTYPE, linkname="not-in-archive"),
    ]))
    write("conflicts.tar", archive([
        entry("a", data=b"file first"),
        entry("a/b", data=b"under a file"),
        entry("dir", tarfile.DIRTYPE, mode=0o000),
        entry("dir/x", data=b"in an unwritable dir"),
        entry("dir", data=b"file replaces dir"),
    ]))
    write("layer_whiteouts.tar", archive([
        entry("etc", tarfile.DIRTYPE),
        entry("etc/.wh.motd", uid=1000, gid=1000),
        entry("var/lib/.wh..wh..opq"),
        entry("var/lib/new", data=b"n"),
        entry(".wh..wh.plnk"),
        entry("bin/.wh.sh"),
        entry("usr/bin/ping", data=b"\x7fELF", mode=0o4755, uid=0, gid=0,
              pax_headers={"SCHILY.xattr.security.capability": "\x01\x00\x00\x02 \x00\x00\x00",
                           "SCHILY.xattr.user.note": "hello"}),
    ]))
    write("devices.tar", archive([
        entry("dev", tarfile.DIRTYPE),
        entry("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3),
        entry("dev/sda", tarfile.BLKTYPE, devmajor=8, devminor=0),
        entry("dev/fifo", tarfile.FIFOTYPE),
    ]))
    long_name = "d" * 100 + "/" + "e" * 120 + "/file"
    write("long_names_pax.tar", archive([
        entry(long_name, data=b"long"),
        entry("l", tarfile.SYMTYPE, linkname="x" * 200),
        entry("utf8-\u00e9\u4e2d", data=b"unicode name"),
    ]))
    write("long_names_gnu.tar", archive([
        entry(long_name, data=b"long"),
        entry("h", tarfile.LNKTYPE, linkname=long_name),
    ], fmt=tarfile.GNU_FORMAT))
    write("ustar.tar", archive([
        entry("usr/share/doc/a", data=b"a" * 600, uname="root", gname="root"),
    ], fmt=tarfile.USTAR_FORMAT))
    write("empty.tar", b"\0" * 1024)
    write("truncated.tar", context[:700])


if __name__ == "__main__":
    main()
