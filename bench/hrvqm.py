#!/usr/bin/python3
"""A small reader of hrvq model files (.hrvqm, format/model-file.md, version 1.x).

    import hrvqm
    config, tensors = hrvqm.load("models/photo.hrvqm")
    config["hrvq.channels"]          # metadata: int, float or bytes (strings are opaque
                                     # bytes in the container; str() of UTF-8 here)
    tensors["pre_quant.weight"]      # a torch.Tensor (or numpy array with as_numpy=True)

It checks what format/model-file.md says a reader must reject (magic, version, sizes,
CRC-32, alignment, counts, name bytes and uniqueness, value types, dtypes, ranks,
dimensions, byte ranges inside the data section, overlaps) and raises ValueError with
a one-line "NAME: message". Needs numpy; torch only for the default tensor output.

    /usr/bin/python3 bench/hrvqm.py MODEL...          prints each file's keys and tensors
    /usr/bin/python3 bench/hrvqm.py --check MODEL...  every tensor's shape against the
        configuration (hr, rvq and vq models; expected_shapes() says what is checked)
"""
import struct
import sys
import zlib
from collections import OrderedDict

import numpy as np

MAGIC = b"HRVQMDL\x00"
HEADER = 40
MAX_ENTRIES = 4096
MAX_NAME = 256
MAX_STRING = 1 << 20
MAX_FILE = 1 << 31
# dtype code -> (name, numpy little-endian dtype; bf16 has none: its raw bits as int16)
DTYPES = {0: ("f32", "<f4"), 1: ("f16", "<f2"), 2: ("bf16", "<i2"), 3: ("i64", "<i8"),
          4: ("u64", "<u8"), 5: ("i32", "<i4"), 6: ("u8", "u1")}
ELEMENT_SIZE = {0: 4, 1: 2, 2: 2, 3: 8, 4: 8, 5: 4, 6: 1}


class _Cursor:
    """Reads the header region [40, data_offset), every length checked before use."""

    def __init__(self, buf, pos, end, name):
        self.buf, self.pos, self.end, self.name = buf, pos, end, name

    def take(self, n, what):
        if n > self.end - self.pos:
            raise ValueError(f"{self.name}: corrupt model file ({what} extends past the data offset)")
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def u8(self, what):
        return self.take(1, what)[0]

    def u16(self, what):
        return struct.unpack("<H", self.take(2, what))[0]

    def u32(self, what):
        return struct.unpack("<I", self.take(4, what))[0]

    def u64(self, what):
        return struct.unpack("<Q", self.take(8, what))[0]

    def i64(self, what):
        return struct.unpack("<q", self.take(8, what))[0]

    def f64(self, what):
        return struct.unpack("<d", self.take(8, what))[0]

    def name_field(self, kind, seen):
        n = self.u16(f"{kind} name length")
        if n < 1 or n > MAX_NAME:
            raise ValueError(f"{self.name}: corrupt model file ({kind} name length {n} outside 1..{MAX_NAME})")
        raw = self.take(n, f"{kind} name")
        if any(c < 0x20 or c > 0x7E for c in raw):
            raise ValueError(f"{self.name}: corrupt model file ({kind} name with a byte outside 0x20..0x7E)")
        text = raw.decode("ascii")
        if text in seen:
            raise ValueError(f"{self.name}: corrupt model file (duplicate {kind} '{text}')")
        return text


def parse(buf, name="<bytes>"):
    """Parses the bytes of a model file: (metadata OrderedDict, list of tensor infos).
    A tensor info is a dict: name, dtype (code), shape (tuple), start, nbytes (absolute)."""
    size = len(buf)
    if size == 0 or buf[:min(size, 8)] != MAGIC[:min(size, 8)]:
        raise ValueError(f"{name}: not an hrvq model file")
    if size < HEADER:
        raise ValueError(f"{name}: truncated (file is {size} bytes, the header alone is 40)")
    major, minor, alignment, file_size, key_count, tensor_count, data_offset = struct.unpack_from("<HHIQIIQ", buf, 8)
    if major > 1:
        raise ValueError(f"{name}: model file version {major}.{minor} is newer than this hrvq supports (1.0)")
    if major == 0:
        raise ValueError(f"{name}: unsupported model file version 0.{minor}")
    if file_size > size:
        raise ValueError(f"{name}: truncated (file is {size} bytes, its header says {file_size})")
    if file_size < size:
        raise ValueError(f"{name}: {size - file_size} unexpected bytes after the end of the model file")
    if file_size < 44:
        raise ValueError(f"{name}: corrupt model file (file_size {file_size} < 44)")
    if file_size > MAX_FILE:
        raise ValueError(f"{name}: model file larger than 2 GiB")
    stored_crc = struct.unpack_from("<I", buf, file_size - 4)[0]
    if zlib.crc32(memoryview(buf)[:file_size - 4]) & 0xFFFFFFFF != stored_crc:
        raise ValueError(f"{name}: checksum mismatch (file is corrupt)")
    if alignment < 8 or alignment > 4096 or alignment & (alignment - 1):
        raise ValueError(f"{name}: corrupt model file (alignment {alignment})")
    if key_count > MAX_ENTRIES or tensor_count > MAX_ENTRIES:
        raise ValueError(f"{name}: corrupt model file (key_count {key_count}, tensor_count {tensor_count})")
    if data_offset < HEADER or data_offset > file_size - 4 or data_offset % alignment:
        raise ValueError(f"{name}: corrupt model file (data_offset {data_offset})")

    cur = _Cursor(buf, HEADER, data_offset, name)
    meta = OrderedDict()
    for _ in range(key_count):
        key = cur.name_field("key", meta)
        vt = cur.u8(f"value type of '{key}'")
        if vt == 0:
            meta[key] = cur.i64(f"value of '{key}'")
        elif vt == 1:
            meta[key] = cur.f64(f"value of '{key}'")
        elif vt == 2:
            n = cur.u32(f"string length of '{key}'")
            if n > MAX_STRING:
                raise ValueError(f"{name}: corrupt model file (string '{key}' of {n} bytes)")
            meta[key] = bytes(cur.take(n, f"string '{key}'"))
        else:
            raise ValueError(f"{name}: corrupt model file (key '{key}' has value type {vt})")

    data_size = file_size - 4 - data_offset
    infos, seen = [], set()
    for _ in range(tensor_count):
        tname = cur.name_field("tensor", seen)
        seen.add(tname)
        dtype = cur.u8(f"dtype of '{tname}'")
        rank = cur.u8(f"rank of '{tname}'")
        if dtype >= 7:
            raise ValueError(f"{name}: corrupt model file (tensor '{tname}' has dtype {dtype})")
        if rank > 8:
            raise ValueError(f"{name}: corrupt model file (tensor '{tname}' has rank {rank})")
        dims = [cur.i64(f"dims of '{tname}'") for _ in range(rank)]
        if any(d < 0 for d in dims):
            raise ValueError(f"{name}: corrupt model file (tensor '{tname}' has a negative dimension)")
        offset = cur.u64(f"offset of '{tname}'")
        count = 1
        for d in dims:  # Python integers do not overflow: check against 64 bits explicitly
            count *= d
        nbytes = count * ELEMENT_SIZE[dtype]
        if nbytes >= 1 << 64 or nbytes > data_size:
            raise ValueError(f"{name}: corrupt model file (tensor '{tname}' of {nbytes} bytes exceeds the data section)")
        if offset % alignment:
            raise ValueError(f"{name}: corrupt model file (tensor '{tname}' offset {offset} not aligned)")
        if offset > data_size or nbytes > data_size - offset:
            raise ValueError(f"{name}: corrupt model file (tensor '{tname}' lies outside the data section)")
        infos.append({"name": tname, "dtype": dtype, "shape": tuple(dims),
                      "start": data_offset + offset, "nbytes": nbytes})
    ranges = sorted((t["start"], t["start"] + t["nbytes"], t["name"]) for t in infos if t["nbytes"])
    for (a0, a1, an), (b0, b1, bn) in zip(ranges, ranges[1:]):
        if b0 < a1:
            raise ValueError(f"{name}: corrupt model file (tensors '{an}' and '{bn}' overlap)")
    return meta, infos


def load(path, as_numpy=False, decode_strings=True):
    """(config, tensors): metadata in file order (strings decoded as UTF-8 unless
    decode_strings=False) and name -> tensor in file order. bf16 tensors come back as
    torch.bfloat16 (as numpy: their raw bits as int16)."""
    with open(path, "rb") as f:
        buf = f.read()
    meta, infos = parse(buf, path)
    if decode_strings:
        meta = OrderedDict((k, v.decode("utf-8", "replace") if isinstance(v, bytes) else v) for k, v in meta.items())
    tensors = OrderedDict()
    for t in infos:
        arr = np.frombuffer(buf, dtype=DTYPES[t["dtype"]][1], count=t["nbytes"] // ELEMENT_SIZE[t["dtype"]],
                            offset=t["start"]).reshape(t["shape"]).copy()
        tensors[t["name"]] = arr
    if not as_numpy:
        import torch
        out = OrderedDict()
        for t in infos:
            arr = tensors[t["name"]]
            if t["dtype"] == 4:  # u64: torch has no uint64; counts fit in int64 in practice
                arr = arr.astype(np.int64)
            x = torch.from_numpy(arr)
            if t["dtype"] == 2:
                x = x.view(torch.bfloat16)
            out[t["name"]] = x
        tensors = out
    return meta, tensors


def expected_shapes(cfg):
    """name -> shape of every tensor an hr, rvq or vq hrvq-autoencoder needs (and of the
    optional ones it may carry: EMA state, code counts), from its metadata as
    format/model-file.md ("Tensors used by hrvq") and src/networks.cpp build it.
    Returns (required, optional). vq2 is not covered."""
    q = cfg["hrvq.quantizer"]
    if q == "vq2":
        raise ValueError("expected_shapes: vq2 is not covered")
    ic, C, R, rc = cfg["hrvq.image_channels"], cfg["hrvq.channels"], cfg["hrvq.res_blocks"], cfg["hrvq.res_channels"]
    D, d, m, G = cfg["hrvq.embed_dim"], cfg["hrvq.downsample"], cfg["hrvq.codes"], cfg.get("hrvq.groups", 1)
    n = 1 if q == "vq" else cfg["hrvq.layers"]
    req, opt = OrderedDict(), OrderedDict()

    def conv(prefix, o, i, k):
        req[prefix + ".weight"], req[prefix + ".bias"] = (o, i, k, k), (o,)

    def res_blocks(prefix, start):
        for b in range(R):
            conv(f"{prefix}.{start + b}.conv3", rc, C, 3)
            conv(f"{prefix}.{start + b}.conv1", C, rc, 1)

    half, k = C // 2, 0
    if d == 2:
        conv("encoder.net.0", half, ic, 4)
        conv("encoder.net.2", C, half, 3)
        k = 3
    else:
        c = ic
        for s in range(2 if d == 4 else 3):
            out = C if s + 1 == (2 if d == 4 else 3) else half
            conv(f"encoder.net.{k}", out, c, 4)
            c, k = out, k + 2
        conv(f"encoder.net.{k}", C, C, 3)
        k += 1
    res_blocks("encoder.net", k)
    conv("pre_quant", D, C, 1)
    dg = D // G
    for g in range(G):
        prefix = "quantizer" if g == 0 else f"quantizer_g{g}"
        for i in range(n):
            rows = m ** (i + 1) if q == "hr" else m
            req[f"{prefix}.codebook_{i}"] = (rows, dg)
            req[f"{prefix}.last_used_{i}"] = (rows,)
            (req if cfg["hrvq.ema"] else opt)[f"{prefix}.ema_count_{i}"] = (rows,)
            (req if cfg["hrvq.ema"] else opt)[f"{prefix}.ema_sum_{i}"] = (rows, dg)
        req[f"{prefix}.initialized"] = (1,)
    conv("decoder.net.0", C, D, 3)
    res_blocks("decoder.net", 1)
    k = R + 2  # after the residual blocks and a ReLU
    steps = {2: 1, 4: 2, 8: 3}[d]
    c = C
    for s in range(steps):
        out = ic if s + 1 == steps else C // 2
        if cfg["hrvq.upsample"] == "subpixel":
            conv(f"decoder.net.{k}.conv", out * 4, c, 3)
        else:  # ConvTranspose2d weights are [in, out, k, k]
            req[f"decoder.net.{k}.weight"], req[f"decoder.net.{k}.bias"] = (c, out, 4, 4), (out,)
        c, k = out, k + 2
    for j in range(n * G):
        opt[f"counts.layer{j}"] = (m ** (j // G + 1) if q == "hr" else m,)
    return req, opt


def check_shapes(path):
    """Every required tensor present with its shape, every other tensor an optional one
    (or an Adam moment) with its shape. Returns a list of problems (empty: all good)."""
    cfg, tensors = load(path, as_numpy=True)
    req, opt = expected_shapes(cfg)
    problems = []
    for k, shape in req.items():
        if k not in tensors:
            problems.append(f"missing tensor '{k}'")
        elif tuple(tensors[k].shape) != shape:
            problems.append(f"tensor '{k}' has shape {list(tensors[k].shape)}, the configuration needs {list(shape)}")
    for k, t in tensors.items():
        if k in req:
            continue
        if k.startswith("adam.m.") or k.startswith("adam.v."):
            base = k[7:]
            if base in req and tuple(t.shape) != req[base]:
                problems.append(f"tensor '{k}' has shape {list(t.shape)}, its parameter {list(req[base])}")
        elif k in opt:
            if tuple(t.shape) != opt[k]:
                problems.append(f"tensor '{k}' has shape {list(t.shape)}, expected {list(opt[k])}")
        else:
            problems.append(f"unexpected tensor '{k}'")
    return problems


def dtype_name(code):
    return DTYPES[code][0]


def main(argv):
    if argv[:1] == ["--check"]:
        bad = 0
        for path in argv[1:]:
            cfg, tensors = load(path, as_numpy=True)
            problems = check_shapes(path)
            req, _ = expected_shapes(cfg)
            params = sum(int(np.prod(s)) for k, s in req.items() if ".last_used_" not in k and ".ema_" not in k
                         and not k.endswith(".initialized"))
            print(f"{path}: {len(tensors)} tensors, {params} parameters (as hrvq info counts them): "
                  + ("every shape as the configuration implies" if not problems else "; ".join(problems)))
            bad += bool(problems)
        sys.exit(1 if bad else 0)
    for path in argv:
        with open(path, "rb") as f:
            meta, infos = parse(f.read(), path)
        print(f"{path}: {len(meta)} keys, {len(infos)} tensors")
        for k, v in meta.items():
            print(f"  {k} = {v!r}")
        for t in infos:
            print(f"  {t['name']} {dtype_name(t['dtype'])} {list(t['shape'])}")


if __name__ == "__main__":
    main(sys.argv[1:])
