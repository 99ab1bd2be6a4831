"""Reading real serial femtosecond crystallography (SFX) frames from CBF files.

The crystallographic binary file (CBF, imageCIF; Bernstein & Hammersley, International Tables
for Crystallography G, 2005) holds a CIF text header and one MIME-like binary section per
detector array. LCLS frames written by cctbx.xfel (CSPAD, Rayonix) use the ``x-CBF_PACKED``
compression, which :mod:`fabio` does not decode; this module decodes it (CCP4-style packing of
J. P. Abrahams as extended by CBFlib: offsets from the rounded mean of the already-decoded
neighbours, coded in blocks of 1 to 128 offsets of 0 to 32 bits). ``x-CBF_BYTE_OFFSET``
sections (Pilatus, Eiger) are decoded with :mod:`fabio`.
"""

import itertools
import os
import re

import numpy as np

__all__ = ["read_cbf"]

_SECTION = b"--CIF-BINARY-FORMAT-SECTION--"
_BINARY_START = b"\x0c\x1a\x04\xd5"
# Bits per offset for the 3-bit size code of version 1 packing; 65 means "a full element".
_PACKED_BITS = (0, 4, 5, 6, 7, 8, 16, 65)
_ELEMENT_TYPES = {
    "signed 32-bit integer": np.int32,
    "unsigned 32-bit integer": np.uint32,
    "signed 16-bit integer": np.int16,
    "unsigned 16-bit integer": np.uint16,
    "signed 8-bit integer": np.int8,
    "unsigned 8-bit integer": np.uint8,
}


def read_cbf(path, *, fill_value=0.0, return_mask=False):
    """Read a detector frame from a CBF (imageCIF) file.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.cbf`` file with one or more binary sections compressed with ``x-CBF_PACKED``
        (no extra flags, ``flat`` or ``uncorrelated_sections``) or ``x-CBF_BYTE_OFFSET``.
    fill_value : float, default=0.0
        Value written into bad pixels: those equal to the array's
        ``_array_intensities.undefined_value`` (e.g. -1 on the LCLS Rayonix, -400 on the
        cctbx CSPAD files: pixels the writer marked as having no measurement) and those at or
        above ``_array_intensities.overload`` (saturated). ``np.nan`` marks them explicitly;
        the default 0 lets the frame go straight into the estimators. Other negative values
        are kept: dark-subtracted ADU scatter around 0.
    return_mask : bool, default=False
        Also return the mask of good pixels.

    Returns
    -------
    frame : ndarray of shape (H, W), float32
        Detector counts in ADU, as stored (gain 1 unless the file says otherwise; no gain
        applied). A single 2-D array is returned as ``(slow, fast)``. Multi-panel files are
        returned *unassembled*, without detector geometry: each section ``(n_panels, slow,
        fast)`` becomes ``(n_panels * slow, fast)`` (panels stacked) and the sections sit side
        by side -- for the CSPAD (four quadrants of eight 185 x 388 sensors) that is the
        1480 x 1552 "slab" layout of Cheetah and psana. Bragg spots keep their shape inside a
        panel; distances across panel borders are not physical.
    mask : ndarray of shape (H, W), bool
        True for good pixels; only when ``return_mask`` is True.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file has no binary section, an unsupported compression or element type, a
        section that decodes to the wrong number of pixels, or sections of different shapes.
    ImportError
        If a ``x-CBF_BYTE_OFFSET`` section needs :mod:`fabio` and it is not installed.

    Notes
    -----
    The five real SFX frames of the project's shared data (four LCLS CXI CSPAD frames of
    thermolysin, one LCLS MFX Rayonix MX340 frame) all use ``x-CBF_PACKED``, whose decoding
    is slow (the packing predicts each pixel from its decoded neighbours, a sequential
    recurrence evaluated in Python; timing in docs/results.md).

    To bring frames of different detectors to a common shape for a classifier, crop or bin
    them, e.g. a centre crop as in Ke et al. (2018) / Li (2018, 350 x 350 around the beam)::

        frame = read_cbf(path)
        h, w = frame.shape
        crop = frame[(h - 350) // 2:(h + 350) // 2, (w - 350) // 2:(w + 350) // 2]

    or a block mean ``frame[:h // 4 * 4, :w // 4 * 4].reshape(h // 4, 4, w // 4, 4)
    .mean(axis=(1, 3))`` (note that binning dilutes one-pixel Bragg spots).

    Examples
    --------
    A small ``x-CBF_BYTE_OFFSET`` frame written with :mod:`fabio`, read back:

    >>> import os, tempfile
    >>> import numpy as np
    >>> from fabio.cbfimage import CbfImage
    >>> from skspeckle.io.cbf import read_cbf
    >>> tmp = tempfile.TemporaryDirectory()
    >>> path = os.path.join(tmp.name, "frame.cbf")
    >>> CbfImage(data=np.arange(12, dtype=np.int32).reshape(3, 4)).write(path)
    >>> frame, mask = read_cbf(path, return_mask=True)
    >>> frame.shape, frame.dtype, frame[2].tolist(), bool(mask.all())
    ((3, 4), dtype('float32'), [8.0, 9.0, 10.0, 11.0], True)
    >>> tmp.cleanup()
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    text_end = raw.find(_SECTION)
    if text_end < 0:
        raise ValueError(
            f"{path!r} has no CBF binary section (no {_SECTION.decode()!r} "
            "marker); is it a CBF (imageCIF) file?"
        )
    limits = _intensity_limits(raw[:text_end].decode("latin-1"))
    arrays, masks = [], []
    for header, blob in _binary_sections(raw, path):
        values = _decode_section(header, blob, path)
        undefined, overload = limits.get(header["id"], limits.get(None, (None, None)))
        bad = np.zeros(values.shape, dtype=bool)
        if undefined is not None:
            bad |= values == undefined
        if overload is not None:
            bad |= values >= overload
        slow, mid, fast = header["dims"]
        arrays.append(values.reshape(slow * mid, fast))
        masks.append(~bad.reshape(slow * mid, fast))
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise ValueError(
            f"{path!r} holds binary sections of different shapes {sorted(shapes)}; "
            "read_cbf only lays out sections of equal shape side by side."
        )
    frame = np.hstack(arrays).astype(np.float32)
    mask = np.hstack(masks)
    frame[~mask] = fill_value
    return (frame, mask) if return_mask else frame


def _intensity_limits(text):
    """``{binary_id or None: (undefined_value, overload)}`` from the CIF header."""
    tags = (
        "_array_intensities.binary_id",
        "_array_intensities.undefined_value",
        "_array_intensities.overload",
    )
    lines = [ln.strip() for ln in text.splitlines()]
    out = {}
    for i, line in enumerate(lines):
        if (
            line != "loop_"
            or i + 1 >= len(lines)
            or not lines[i + 1].startswith("_array_intensities.")
        ):
            continue
        names, j = [], i + 1
        while j < len(lines) and lines[j].startswith("_"):
            names.append(lines[j].split()[0])
            j += 1
        while j < len(lines) and lines[j] and not lines[j].startswith(("_", "loop_", "#")):
            row = dict(zip(names, lines[j].split()))
            out[_as_int(row.get(tags[0]))] = (
                _as_float(row.get(tags[1])),
                _as_float(row.get(tags[2])),
            )
            j += 1
    if not out:
        single = {}
        for line in lines:
            parts = line.split()
            if len(parts) == 2 and parts[0] in tags:
                single[parts[0]] = parts[1]
        if single:
            out[None] = (_as_float(single.get(tags[1])), _as_float(single.get(tags[2])))
    return out


def _as_float(token):
    try:
        return float(token)
    except (TypeError, ValueError):
        return None  # absent, or "." / "?" (CIF for not applicable / unknown)


def _as_int(token):
    value = _as_float(token)
    return None if value is None else int(value)


def _binary_sections(raw, path):
    """Yield ``(header dict, compressed bytes)`` for every binary section."""
    pos, found = 0, False
    while True:
        start = raw.find(_SECTION, pos)
        if start < 0:
            break
        data_start = raw.find(_BINARY_START, start)
        if data_start < 0:
            break
        head = raw[start:data_start].decode("latin-1")
        if "X-Binary-Size:" not in head:  # the closing marker of the previous section
            pos = start + len(_SECTION)
            continue

        def field(name, default=None, head=head):
            m = re.search(rf"{name}:\s*\"?([^\r\n\"]+)", head)
            return m.group(1).strip() if m else default

        size = int(field("X-Binary-Size"))
        conversions = re.search(r'conversions="([^"]+)"', head)
        dims = [
            int(field(f"X-Binary-Size-{k}-Dimension", 0)) for k in ("Fastest", "Second", "Third")
        ]
        n = int(field("X-Binary-Number-of-Elements"))
        fast = dims[0] or n
        mid = dims[1] or 1
        slow = dims[2] or 1
        if fast * mid * slow != n:
            raise ValueError(
                f"{path!r}: binary section with {n} elements but dimensions "
                f"{dims}; the file is corrupt or not a supported CBF."
            )
        found = True
        yield (
            {
                "id": _as_int(field("X-Binary-ID")),
                "conversions": conversions.group(1).lower() if conversions else "",
                "type": field("X-Binary-Element-Type", "signed 32-bit integer").lower(),
                "dims": (slow, mid, fast),
                "n": n,
            },
            raw[data_start + 4 : data_start + 4 + size],
        )
        pos = data_start + 4 + size
    if not found:
        raise ValueError(f"{path!r} has no readable CBF binary section.")


def _decode_section(header, blob, path):
    dtype = _ELEMENT_TYPES.get(header["type"])
    if dtype is None:
        raise ValueError(
            f"{path!r}: element type {header['type']!r} is not supported; "
            f"read_cbf reads {sorted(_ELEMENT_TYPES)}."
        )
    conversions = header["conversions"]
    if conversions.startswith("x-cbf_packed") and "v2" not in conversions:
        values = _unpack(
            blob,
            header["n"],
            header["dims"],
            flat="flat" in conversions,
            uncorrelated="uncorrelated" in conversions,
        )
    elif conversions.startswith("x-cbf_byte_offset"):
        try:
            from fabio.compression import decByteOffset
        except ImportError as exc:
            raise ImportError(
                "Reading x-CBF_BYTE_OFFSET sections needs the fabio package; install it with "
                "`pip install skspeckle[sfx]` (or `pip install fabio`)."
            ) from exc
        values = np.asarray(decByteOffset(blob, size=header["n"], dtype="int64"))
    else:
        raise ValueError(
            f"{path!r}: compression {conversions or 'none'!r} is not supported; read_cbf "
            "decodes x-CBF_PACKED and x-CBF_BYTE_OFFSET. Convert the file with CBFlib's "
            "cif2cbf, or read it with dxtbx."
        )
    if values.size != header["n"]:
        raise ValueError(
            f"{path!r}: a binary section decoded to {values.size} values, "
            f"expected {header['n']}; the file is truncated or corrupt."
        )
    # Wrap to the stored element type, as the C decoder does.
    return values.astype(np.int64).astype(dtype).astype(np.int64)


def _unpack(blob, n, dims, *, flat, uncorrelated):
    """Decode an ``x-CBF_PACKED`` (version 1) section into ``n`` int64 values."""
    # 32-byte prefix: element count, minimum, maximum, reserved (64-bit integers each).
    stream = blob[32:] + bytes(16)
    offsets = _packed_offsets(stream, n)
    if flat:
        return np.cumsum(offsets)
    return _jpa_reconstruct(offsets.reshape(dims), uncorrelated).ravel()


def _packed_offsets(stream, n):
    """The signed offsets of a packed bit stream (least significant bit first)."""
    # Block headers are sequential (each says how long its block is): walk them in Python,
    # then extract all offsets at once.
    starts, counts, widths = [], [], []
    pos = count = 0
    while count < n:
        byte = pos >> 3
        code = ((stream[byte] | (stream[byte + 1] << 8)) >> (pos & 7)) & 63
        length = min(1 << (code & 7), n - count)
        width = _PACKED_BITS[code >> 3]
        width = 32 if width == 65 else width  # a full element: 32 bits for these types
        starts.append(pos + 6)
        counts.append(length)
        widths.append(width)
        pos += 6 + length * width
        count += length
        if (pos >> 3) + 2 > len(stream):
            raise ValueError(
                "the packed data ends before all pixels were decoded; the file "
                "is truncated or corrupt."
            )
    counts = np.asarray(counts)
    block = np.repeat(np.arange(len(counts)), counts)
    within = np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts)
    nbits = np.asarray(widths, dtype=np.uint64)[block]
    bitpos = np.asarray(starts, dtype=np.int64)[block] + within * nbits.astype(np.int64)
    data = np.frombuffer(stream + bytes(8), dtype=np.uint8)
    first = bitpos >> 3
    window = np.zeros(n, dtype=np.uint64)
    for k in range(6):  # 6 bytes hold any 32-bit field starting at any bit
        window |= data[first + k].astype(np.uint64) << np.uint64(8 * k)
    value = (window >> (bitpos & 7).astype(np.uint64)) & ((np.uint64(1) << nbits) - np.uint64(1))
    value = value.astype(np.int64)
    nbits = nbits.astype(np.int64)
    half = np.where(nbits > 0, np.int64(1) << np.maximum(nbits - 1, 0), 1)
    return np.where((nbits > 0) & (value >= half), value - (np.int64(1) << nbits), value)


def _rounded_mean(total, count):
    # CBFlib's average of 1, 2, 4 or 8 neighbours: (sum + count/2) >> log2(count).
    return total if count == 1 else (total + (count >> 1)) >> (count.bit_length() - 1)


def _jpa_reconstruct(offsets, uncorrelated):
    """Undo the neighbour-average prediction of CBFlib packing, section by section.

    Each pixel is its offset plus the rounded mean of the decoded pixels before it: left,
    and up-left / up / up-right in the previous row (fewer at the borders), plus the same
    positions in the previous section unless sections are uncorrelated.
    """
    n_sec, n_rows, n_cols = offsets.shape
    out = np.zeros(offsets.shape, dtype=np.int64)
    for s in range(n_sec):
        below = None if (s == 0 or uncorrelated) else out[s - 1]
        for y in range(n_rows):
            o = offsets[s, y].tolist()
            if y == 0:
                # First row: the left neighbour only; its first pixel starts from 0, or
                # from the first pixel of the previous section.
                first = o[0] + (int(out[s - 1, 0, 0]) if s > 0 else 0)
                out[s, 0] = list(itertools.accumulate(o[1:], lambda v, d: v + d, initial=first))
                continue
            up = out[s, y - 1]
            # Sum of up-right, up, up-left for the interior columns 1 .. n_cols - 2.
            ctx = up[2:] + up[1:-1] + up[:-2]
            count = 4
            if below is not None:
                ctx = (
                    ctx + below[y, 1:-1] + below[y - 1, 2:] + below[y - 1, 1:-1] + below[y - 1, :-2]
                )
                count = 8
            edge = [int(up[1]) + int(up[0])]
            last_ctx = int(up[-1])
            if below is not None:
                edge[0] += int(below[y - 1, 1]) + int(below[y - 1, 0])
                last_ctx += int(below[y, -1]) + int(below[y - 1, -1])
            first = o[0] + _rounded_mean(edge[0], count // 2)
            shift = count.bit_length() - 1
            half = count >> 1
            ctx = (ctx + half).tolist()
            row = list(
                itertools.accumulate(
                    zip(o[1:-1], ctx), lambda v, oc: oc[0] + ((v + oc[1]) >> shift), initial=first
                )
            )
            if n_cols > 1:
                row.append(o[-1] + _rounded_mean(row[-1] + last_ctx, count // 2))
            out[s, y] = row[:n_cols]
    return out
