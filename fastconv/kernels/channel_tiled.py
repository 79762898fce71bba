"""Direct convolution on tiles vectorised along the output channels (see :func:`._simd.broadcast_tile`).

The input is zero-padded into flat (Hp, Wp) planes, as for :mod:`.tiled` (but
by the tiles by window, which read it in place).
Output pixel (p, q) of filter tap (c, r, s) then reads element
``p*stride_h*Wp + q*stride_w + offsets[t]`` of the image's planes, with
``offsets[t] = c*Hp*Wp + r*dilation_h*Wp + s*dilation_w``: every tile reads
single input elements and broadcasts them, so strides, dilations and small
planes cost nothing extra, and its vectors run along the packed filters'
output channels. A tile stores each output channel's run of pixels straight
into the NCHW result (the last, partial tile of a run through a scratch), or,
where those runs would crowd one cache set, into a scratch for the task's
whole run, copied out row by row (``via_scratch``).

Forward: one prange task per (image, group, block of output channels, run of
output pixels), or, for small planes, per (group, block of output channels,
run of the pixels of a chunk of images): runs across images
(:func:`conv2d_forward_channel_tiled_over_images`), or runs of tiles whose
pixels share a window of the filter (the taps that meet the image) and skip
the rest (:func:`conv2d_forward_channel_tiled_by_window`). Weight gradient: the same tile storing pixel-major sums
(:func:`._simd.broadcast_sums`), with the roles of taps and pixels swapped:
its "pixels" are the filter taps, its reduction runs over the output pixels
of each image (GRAD_RUN_PIXELS at a time, all tiles over each run), and
its vectors over the output gradient's channels, transposed to pixel-major
(:func:`pixel_major`): by each task for its own images, or first for a
chunk of images that the tasks share.
"""

import numpy as np
from numba import njit, prange

from ._options import NJIT_OPTIONS, PARALLEL_OPTIONS
from ._simd import BROADCAST_PIXELS, broadcast_sums, broadcast_tile, copy_run, transpose_block, vector_lanes
from ._window import row_runs, tile_filter_rows
from .planes import embed_plane, embed_planes

GRAD_RUN_PIXELS = 512  # weight gradient: output pixels a task runs all its tiles over while they are in cache


@njit(**NJIT_OPTIONS)
def pixel_positions(P, Q, stride_h, stride_w, width, multiple, images, image_step):
    """positions[j] = i*image_step + p*stride_h*width + q*stride_w for pixel j = (i*P + p)*Q + q of
    ``images`` images, padded with the last to a multiple."""
    count = images * P * Q
    positions = np.empty(-(-count // multiple) * multiple, dtype=np.intp)
    for j in range(positions.shape[0]):
        i, k = divmod(min(j, count - 1), P * Q)
        positions[j] = i * image_step + (k // Q) * stride_h * width + (k % Q) * stride_w
    return positions


@njit(inline="always", **NJIT_OPTIONS)
def _tile_shape(packed, out):
    """(vectors of output channels, pixels) of the forward tiles for filters packed in blocks of packed.shape[3] rows."""
    vectors = packed.shape[3] // vector_lanes(out)
    return vectors, BROADCAST_PIXELS[vectors]


@njit(inline="always", **NJIT_OPTIONS)
def tile_over_filter_rows(
    filter_rows, channels, R, S, vectors, x, x_start, positions, offsets, w, w_start, w_stride, out, out_start,
    out_step, valid,
):  # fmt: skip
    """:func:`._simd.broadcast_tile` over filter rows filter_rows[0]..filter_rows[1]-1 of taps (c, r, s) in C
    order: the plain count of taps when that is all of them, which keeps its own, single loop (as
    :func:`.tiled.tile_over_rows` does for the row tiles)."""
    lo, hi = filter_rows[0], filter_rows[1]
    if lo == 0 and hi == R:
        taps = channels * R * S
        broadcast_tile(
            vectors, x, x_start, positions, offsets, taps, w, w_start, w_stride, out, out_start, out_step, valid
        )
    else:
        runs = row_runs(lo, hi, channels, R, S)
        broadcast_tile(
            vectors, x, x_start, positions, offsets, runs, w, w_start, w_stride, out, out_start, out_step, valid
        )


@njit(**PARALLEL_OPTIONS)
def conv2d_forward_channel_tiled(
    x, packed, offsets, positions, out, top, left, height, width, planes, images, run, stride_h, R, dilation_h,
    via_scratch,
):  # fmt: skip
    """out[n, k, p, q] = sum_t packed[g, k // rows, t, k % rows] * planes[image n + positions[p*Q + q] + offsets[t]].

    x (N, C, h, w) is placed at (top, left) in zero (height, width) planes,
    ``images`` images at a time, in the scratch ``planes``; packed (groups,
    blocks, Cg*R*S, rows) from :func:`.tiled.pack_forward_weight` with rows a
    whole number of vectors; offsets from :func:`.tiled.tap_offsets` for one
    group's channels; a tile skips the filter rows that meet only padding
    for all its pixels (stride_h, R and dilation_h say which). positions from
    :func:`pixel_positions`, padded to a multiple of ``run`` (a multiple of
    the tile's pixels): each task computes ``run`` pixels of one block of
    channels. out (N, K, P, Q), overwritten. ``via_scratch``: the tiles
    store a task's run in a scratch whose channel rows are a cache line more
    than ``run`` apart, copied to out row by row at the end, instead of
    straight into out (the rule: ``fastconv/engine/channel_tiles.py``,
    ``stores_via_scratch``).
    """
    N, C, h, w = x.shape
    K, P, Q = out.shape[1], out.shape[2], out.shape[3]
    groups, blocks, taps, rows = packed.shape
    Kg, Cg, PQ, plane = K // groups, C // groups, P * Q, height * width
    vectors, pixels = _tile_shape(packed, out)
    runs = -(-PQ // run)
    S = taps // (Cg * R)
    bounds = tile_filter_rows(runs * run // pixels, pixels, Q, PQ, stride_h, top, h, R, dilation_h, 1)
    weights, outputs = packed.reshape(-1), out.reshape(-1)
    for n0 in range(0, N, images):
        m = min(images, N - n0)
        embed_planes(x.reshape(-1), n0 * C, m * C, h, w, planes, top, left, height, width)
        for task in prange(m * groups * blocks * runs):
            i = task // (groups * blocks * runs)
            g = (task // (blocks * runs)) % groups
            b = (task // runs) % blocks
            j0 = (task % runs) * run
            count = min(run, PQ - j0)
            image = (i * C + g * Cg) * plane
            w0 = (g * blocks + b) * taps * rows
            first = ((n0 + i) * K + g * Kg + b * rows) * PQ + j0
            valid = min(rows, Kg - b * rows)
            scratch_step = run + 64 // out.itemsize if via_scratch else pixels
            scratch = np.empty(rows * scratch_step, dtype=out.dtype)
            first_tile = j0 // pixels
            for t in range(-(-count // pixels)):
                j = t * pixels
                # Whole tiles straight into out (unless via_scratch), the run's last, partial one through the scratch.
                whole = j + pixels <= count
                if via_scratch:
                    target, start, step = scratch, j, scratch_step
                elif whole:
                    target, start, step = outputs, first + j, PQ
                else:
                    target, start, step = scratch, 0, scratch_step
                tile_over_filter_rows(
                    bounds[first_tile + t], Cg, R, S, vectors, planes, image, positions[j0 + j :], offsets, weights,
                    w0, rows, target, start, step, valid,
                )  # fmt: skip
                if not whole and not via_scratch:
                    for k in range(valid):
                        copy_run(outputs, first + k * PQ + j, scratch, k * scratch_step, count - j)
            if via_scratch:
                for k in range(valid):
                    copy_run(outputs, first + k * PQ, scratch, k * scratch_step, count)


# Inlined into the weight-gradient kernel, as embed_planes is (see there).
@njit(inline="always", **PARALLEL_OPTIONS)
def pixel_major(grad_out, n0, count, grad_t):
    """grad_t[i, j, g, k] = grad_out[n0 + i, g*Kg + k, j] (0 for k >= Kg), for images i < count.

    grad_out (N, K, P, Q); grad_t (images >= count, P*Q, groups, Kg_pad),
    Kg_pad >= Kg = K / groups: the output gradient with its channels
    contiguous, for the weight-gradient tile's vectors. Transposed in
    square blocks of a vector's lanes (:func:`._simd.transpose_block`), the
    channels and pixels past the last whole block one by one.
    """
    K, PQ = grad_out.shape[1], grad_out.shape[2] * grad_out.shape[3]
    groups, Kg_pad = grad_t.shape[2], grad_t.shape[3]
    Kg = K // groups
    width = vector_lanes(grad_t)  # of a square
    whole_k, whole_j = Kg // width * width, PQ // width * width
    source, target = grad_out.reshape(-1), grad_t.reshape(-1)
    for ig in prange(count * groups):
        i, g = ig // groups, ig % groups
        lines = grad_t[i, :, g]  # (P*Q, Kg_pad)
        lines[:, Kg:] = 0
        first = ((n0 + i) * K + g * Kg) * PQ  # grad_out[n0 + i, g*Kg]
        for j in range(0, whole_j, width):
            for k in range(0, whole_k, width):
                at = ((i * PQ + j) * groups + g) * Kg_pad + k  # grad_t[i, j, g, k]
                transpose_block(target, at, groups * Kg_pad, source, first + k * PQ + j, PQ, width)
        for k in range(whole_k, Kg):
            for j in range(PQ):
                lines[j, k] = source[first + k * PQ + j]
        for j in range(whole_j, PQ):
            for k in range(whole_k):
                lines[j, k] = source[first + k * PQ + j]


@njit(inline="always", **NJIT_OPTIONS)
def _image_sums(vectors, planes, image, group_plane, offsets, positions, PQ, grads, image_grads, sums, s, part, parts):
    """Part ``part`` of ``parts`` of the weight gradient's tiles over one image, added to sums[s]: its
    padded planes at planes[image], each group's group_plane elements, and its pixel-major output gradient
    (P*Q, groups, Kg_pad) at grads[image_grads] (see :func:`conv2d_grad_weight_channel_tiled`). All the
    part's tiles run over each run of GRAD_RUN_PIXELS pixels while that run's input and gradient are in
    cache."""
    groups, taps_pad, Kg_pad = sums.shape[1], sums.shape[2], sums.shape[3]
    rows = vectors * vector_lanes(sums)
    blocks = Kg_pad // rows
    tile_taps = BROADCAST_PIXELS[vectors]
    tap_blocks = taps_pad // tile_taps
    tiles = groups * blocks * tap_blocks
    totals = sums.reshape(-1)
    for first in range(0, PQ, GRAD_RUN_PIXELS):
        count = min(GRAD_RUN_PIXELS, PQ - first)
        for tile in range(part * tiles // parts, (part + 1) * tiles // parts):
            g = tile // (blocks * tap_blocks)
            b = (tile // tap_blocks) % blocks
            tb = tile % tap_blocks
            # The tile's "pixels" are this block's taps, its reduction a run of the image's pixels.
            broadcast_sums(
                vectors,
                planes,
                image + g * group_plane,
                offsets[tb * tile_taps :],
                positions[first:],
                count,
                grads,
                image_grads + first * groups * Kg_pad + g * Kg_pad + b * rows,
                groups * Kg_pad,
                totals,
                ((s * groups + g) * taps_pad + tb * tile_taps) * Kg_pad + b * rows,
                Kg_pad,
                1,
            )


@njit(**PARALLEL_OPTIONS)
def conv2d_grad_weight_channel_tiled(
    grad_out, x, offsets, positions, sums, top, left, height, width, planes, grad_t, images, vectors, parts
):
    """sums[s, g, t, k] += sum over images n of slice s, pixels j of grad_out[n, g*Kg + k, j] * planes[n, g][positions[j] + offsets[t]].

    x (N, C, h, w) is placed at (top, left) in zero (height, width) planes,
    and the output gradient goes pixel-major (:func:`pixel_major`, (P*Q,
    groups, Kg_pad) per image); offsets from :func:`.tiled.tap_offsets` for
    one group's channels, padded to a multiple of the tile's taps
    (BROADCAST_PIXELS[vectors]); positions from :func:`pixel_positions` (the
    first P*Q are read). sums (slices, groups, taps_pad, Kg_pad), Kg_pad a
    multiple of ``vectors`` vectors, is added to: slice s sums images n with
    n % slices == s. One task per (slice, part of the tiles), running
    through its images one by one (:func:`_image_sums`). ``images`` 0 (with
    one part): a task owns its images, and pads and transposes each in
    scratch of its own, which its tiles then read from its core's cache
    (``planes`` and ``grad_t`` are unused). Otherwise ``images`` images at a
    time are padded into the scratch ``planes`` and transposed into grad_t
    (images, P*Q, groups, Kg_pad) first, for all the tasks.
    """
    N, C, h, w = x.shape
    PQ = grad_out.shape[2] * grad_out.shape[3]
    slices, groups, Kg_pad = sums.shape[0], sums.shape[1], sums.shape[3]
    plane = height * width
    source = x.reshape(-1)
    if images == 0:
        for s in prange(slices):
            own_planes = np.empty(C * plane, dtype=x.dtype)
            own_grads = np.empty((1, PQ, groups, Kg_pad), dtype=x.dtype)
            for n in range(s, N, slices):
                for c in range(C):
                    embed_plane(source, (n * C + c) * h * w, h, w, own_planes, c * plane, top, left, height, width)
                pixel_major(grad_out, n, 1, own_grads)  # its prange runs serially inside this task
                _image_sums(
                    vectors, own_planes, 0, C // groups * plane, offsets, positions, PQ, own_grads.reshape(-1), 0,
                    sums, s, 0, 1,
                )  # fmt: skip
        return
    grads = grad_t.reshape(-1)
    for n0 in range(0, N, images):
        m = min(images, N - n0)
        embed_planes(source, n0 * C, m * C, h, w, planes, top, left, height, width)
        pixel_major(grad_out, n0, m, grad_t)
        for task in prange(slices * parts):
            s, part = task // parts, task % parts
            for i in range((s - n0) % slices, m, slices):
                _image_sums(
                    vectors, planes, i * C * plane, C // groups * plane, offsets, positions, PQ, grads,
                    i * PQ * groups * Kg_pad, sums, s, part, parts,
                )  # fmt: skip


@njit(**PARALLEL_OPTIONS)
def conv2d_forward_channel_tiled_over_images(
    x, packed, offsets, positions, out, top, left, height, width, planes, images, run, stride_h, R, dilation_h
):  # fmt: skip
    """:func:`conv2d_forward_channel_tiled` with runs of pixels across images, for planes smaller than a run.

    Pixel j = i*P*Q + p*Q + q of a chunk of ``images`` images: positions from
    :func:`pixel_positions` for that many images, each C*height*width after the
    last, padded to a multiple of ``run``. One prange task per (group, block of
    output channels, run of the chunk's pixels): it reads its block's
    filters once for the whole run, where a task per image read them once
    per plane (deep layers on small planes stream their filters from memory
    so). Its tiles store into a scratch copied out by image.
    """
    N, C, h, w = x.shape
    K, P, Q = out.shape[1], out.shape[2], out.shape[3]
    groups, blocks, taps, rows = packed.shape
    Kg, Cg, PQ, plane = K // groups, C // groups, P * Q, height * width
    vectors, pixels = _tile_shape(packed, out)
    S = taps // (Cg * R)
    step = run + 64 // out.itemsize  # the scratch's channel rows, a cache line more than a run apart
    weights, outputs = packed.reshape(-1), out.reshape(-1)
    for n0 in range(0, N, images):
        m = min(images, N - n0)
        embed_planes(x.reshape(-1), n0 * C, m * C, h, w, planes, top, left, height, width)
        runs = -(-(m * PQ) // run)
        bounds = tile_filter_rows(runs * run // pixels, pixels, Q, PQ, stride_h, top, h, R, dilation_h, m)
        for task in prange(groups * blocks * runs):
            g = task // (blocks * runs)
            b = (task // runs) % blocks
            j0 = (task % runs) * run
            count = min(run, m * PQ - j0)
            w0 = (g * blocks + b) * taps * rows
            valid = min(rows, Kg - b * rows)
            scratch = np.empty(rows * step, dtype=out.dtype)
            for t in range(-(-count // pixels)):
                j = t * pixels
                tile_over_filter_rows(
                    bounds[j0 // pixels + t], Cg, R, S, vectors, planes, g * Cg * plane, positions[j0 + j :],
                    offsets, weights, w0, rows, scratch, j, step, valid,
                )  # fmt: skip
            for k in range(valid):
                j = j0
                while j < j0 + count:
                    i, p = j // PQ, j % PQ
                    length = min(j0 + count - j, PQ - p)
                    first = ((n0 + i) * K + g * Kg + b * rows + k) * PQ + p
                    copy_run(outputs, first, scratch, k * step + j - j0, length)
                    j += length


@njit(**PARALLEL_OPTIONS)
def conv2d_forward_channel_tiled_by_window(x, packed, offsets, positions, targets, windows, out, run, R):
    """out[n, g*Kg + k, p, q] = sum over the taps (c, r, s) of (p, q)'s window of
    packed[g, k // rows, (c*R + r)*S + s, k % rows] * x[n, g*Cg + c, p - top + r*dh, q - left + s*dw],
    x read in place (no padded planes; the placement (top, left) and the dilations are in the positions
    and offsets).

    The pixels come sorted into tiles of one window each (``fastconv/engine/channel_tiles.py``,
    ``window_pixels``): tile t's pixel slot j (of ``pixels``) reads x's data at positions[t*pixels + j] +
    offsets[tap] (taps of (H, W) planes, from :func:`.tiled.tap_offsets`) for the filter rows and columns
    of windows[t] = (r_lo, r_hi, s_lo, s_hi) only, those that meet the image, so no padding is read or
    multiplied; its sums go to out element targets[t*pixels + j] + channel*P*Q (none where that is negative:
    a tile's spare slots). packed (groups, blocks, Cg*R*S, rows) from :func:`.tiled.pack_forward_weight`,
    rows a whole number of vectors. One prange task per (group, block of output channels, ``run`` tiles):
    its tiles' sums go pixel-major into a scratch, then into out (N, K, P, Q), which is overwritten.
    """
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    K, PQ = out.shape[1], out.shape[2] * out.shape[3]
    groups, blocks, taps, rows = packed.shape
    Kg, Cg = K // groups, C // groups
    S = taps // (Cg * R)
    vectors, pixels = _tile_shape(packed, out)
    tiles = windows.shape[0]
    runs = -(-tiles // run)
    source, weights, outputs = x.reshape(-1), packed.reshape(-1), out.reshape(-1)
    for task in prange(groups * blocks * runs):
        g = task // (blocks * runs)
        b = (task // runs) % blocks
        t0 = (task % runs) * run
        t1 = min(t0 + run, tiles)
        w0 = (g * blocks + b) * taps * rows
        x0 = g * Cg * H * W
        sums = np.empty((t1 - t0) * pixels * rows, dtype=out.dtype)
        for t in range(t0, t1):
            r_lo, r_hi, s_lo, s_hi = windows[t, 0], windows[t, 1], windows[t, 2], windows[t, 3]
            at, tile_positions = (t - t0) * pixels * rows, positions[t * pixels :]
            # All the taps for a whole window, runs of whole filter rows for whole columns, runs of its
            # columns for whole rows, else those runs filter row by filter row, added up.
            if r_hi <= r_lo or s_hi <= s_lo:
                sums[at : at + pixels * rows] = 0
            elif r_lo == 0 and r_hi == R and s_lo == 0 and s_hi == S:
                whole = (0, taps, 1, taps)  # one run: a single type of taps argument, compiled once
                broadcast_sums(
                    vectors, source, x0, tile_positions, offsets, whole, weights, w0, rows, sums, at, rows, 0
                )
            elif s_lo == 0 and s_hi == S:
                runs_of_rows = row_runs(r_lo, r_hi, Cg, R, S)
                broadcast_sums(
                    vectors, source, x0, tile_positions, offsets, runs_of_rows, weights, w0, rows, sums, at, rows, 0
                )  # fmt: skip
            elif r_lo == 0 and r_hi == R:
                runs_of_columns = (s_lo, s_hi - s_lo, Cg * R, S)  # the window's columns of every (c, r)
                broadcast_sums(
                    vectors, source, x0, tile_positions, offsets, runs_of_columns, weights, w0, rows, sums, at, rows,
                    0,
                )  # fmt: skip
            else:
                for r in range(r_lo, r_hi):
                    columns = (r * S + s_lo, s_hi - s_lo, Cg, R * S)
                    broadcast_sums(
                        vectors, source, x0, tile_positions, offsets, columns, weights, w0, rows, sums, at, rows,
                        r - r_lo,
                    )  # fmt: skip
        first = (g * Kg + b * rows) * PQ
        valid = min(rows, Kg - b * rows)
        for j in range(t0 * pixels, t1 * pixels):
            target = targets[j]
            if target >= 0:
                at = (j - t0 * pixels) * rows
                for k in range(valid):
                    outputs[first + target + k * PQ] = sums[at + k]
