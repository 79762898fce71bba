"""The im2col passes: column matrix of a chunk of images, then a BLAS product.

Each takes C-contiguous arrays of one dtype, a checked
:class:`~fastconv._geometry.ConvGeometry` and a preallocated result, and fills
the result, building the columns of a chunk of images at a time (never the
whole batch when that would be large). Two families need no columns: 1x1
layers, whose columns are the images, and kx1 filters at stride 1, whose
columns are the images' rows shifted by each filter row
(:func:`columns_are_views`).
"""

from ..kernels.im2col import col2im, im2col
from .products import matmul
from .workspace import workspace as _workspace

# Upper bound on the column matrix of one chunk. Small enough to stay near the
# caches and to keep memory flat for large batches; at least one image always.
COLUMN_BUDGET_BYTES = 8 * 2**20


# A 1x1 layer's weight gradient is the sum of one product per image, G[n] (Kg, P*Q) @ x[n].T (Kg, Cg), in
# one call of the compiled products, unless that result has this many bytes per output pixel or more: then
# each image's product is too short to repay reading and writing the result once per image, and the chunk
# folds its images into the inner dimension (rows and columns copied, one product). Per-image sums against
# the fold, float32 / float64, in-process A/B: 14x14 256->256 1.48 / 1.52x, 8x8 128->128 1.7x, 7x7 2x960->160
# 1.22 / 1.16x, 7x7 16x512->512 1.01 / 0.69x (21 / 43 KiB per pixel), 6x6 32x384->384 1.02 / 0.65x (16 / 32),
# 4x4 64x64->256 3.8 / 3.2x, 4x4 32x512->512 0.61 / 0.46x (64 / 128), 4x4 8x2048->512 0.57 / 0.59x (256 / 512).
POINTWISE_FOLD_MIN_BYTES_PER_PIXEL = 32 * 2**10

# The products run image by image on strided views of the columns and of the NCHW arrays when the
# column matrix has at most PER_IMAGE_MAX_ROWS rows (Cg*R*S) and each image at least PER_IMAGE_MIN_PIXELS
# output pixels: no copy of the output gradient into rows, no transpose of the forward product into the
# result. Those copies cost about what a product over a few hundred rows does, so the layers with few
# input channels gain most. In-process A/B (interleaved, float32 / float64, three passes): 8x3x128x128
# 3x3 stride 2 1.15-1.32x, the lecture's and CIFAR's 3->4/16 5x5 1.02-1.20x, 4x4 patches 1.12-1.39x, 8x8
# patches (192 rows, 64 pixels) 1.01-1.10x, 5x5 stem on 224x224 1.05-1.24x; deep layers lose (8x512x4x4
# 0.53-0.84x, 4x256x7x7 0.86-1.00x, 64x64x16x16 float64 0.92x: 576 rows), as does the one-hot layer's
# forward pass (13 pixels: 0.92-0.96x); layers of 288-1600 rows on 400-1600 pixels run level (0.94-1.09x).
PER_IMAGE_MAX_ROWS = 256
PER_IMAGE_MIN_PIXELS = 64


# Column filters (``geom.column_filter``: kx1, stride 1) need no column matrix: filter row r's columns are
# the input's rows shifted by r, so each filter row is one product per image on views of the NCHW arrays,
# when those products have at least COLUMN_VIEWS_MIN_FLOPS (2*Kg*Cg*P*W). In-process A/B against the
# column matrix, three passes, both dtypes: 3x1 to 7x1 filters of 64-128 channels on 12x12 to 24x24
# planes with products of 1.8-9.5 MFLOP 1.02-1.53x faster (weight gradients 0.85-1.16x); with products
# of 0.25-0.98 MFLOP (8x32x12x12, 8x64x12x12, 32x64x12x12 7x1) 0.78-1.26x, so those keep the columns.
COLUMN_VIEWS_MIN_FLOPS = 2**20


def columns_are_views(geom):
    """Whether the im2col passes of ``geom`` run on views of the input instead of a column matrix."""
    per_image = 2 * (geom.K // geom.groups) * (geom.C // geom.groups) * geom.P * geom.W
    return geom.column_filter and per_image >= COLUMN_VIEWS_MIN_FLOPS


def images_per_chunk(geom, itemsize):
    """How many images' columns fit in :data:`COLUMN_BUDGET_BYTES` (at least 1)."""
    per_image = (geom.C // geom.groups) * geom.R * geom.S * geom.P * geom.Q * itemsize
    return max(1, min(geom.N, COLUMN_BUDGET_BYTES // max(per_image, 1)))


def products_per_image(geom):
    """Whether the products run image by image, on views (see PER_IMAGE_MAX_ROWS); 1x1 layers have their own."""
    rows = (geom.C // geom.groups) * geom.R * geom.S
    return not geom.pointwise and rows <= PER_IMAGE_MAX_ROWS and geom.P * geom.Q >= PER_IMAGE_MIN_PIXELS


def _chunks(geom, itemsize):
    step = images_per_chunk(geom, itemsize)
    for n0 in range(0, geom.N, step):
        yield n0, min(n0 + step, geom.N)


def _fill_columns(x, cols, n0, c0, geom):
    im2col(x, cols, n0, c0, geom.R, geom.S, geom.P, geom.Q, *geom.kernel_args)


def _rows_of(a, n0, n1, k0, k1):
    """a[n0:n1, k0:k1] (nb, Kg, P, Q) copied into a workspace (Kg, nb*P*Q) matrix."""
    nb, kg = n1 - n0, k1 - k0
    rows = _workspace.get("rows", (kg, nb, a.shape[2] * a.shape[3]), a.dtype)
    rows[...] = a[n0:n1, k0:k1].reshape(nb, kg, -1).transpose(1, 0, 2)
    return rows.reshape(kg, -1)


def _per_image(cols, images):
    """The (images, rows, P*Q) view of a column matrix (rows, images*P*Q)."""
    return cols.reshape(cols.shape[0], images, -1).transpose(1, 0, 2)


def _planes(a):
    """The (N, channels, H*W) view of an NCHW array."""
    return a.reshape(a.shape[0], a.shape[1], -1)


def _pointwise_views(a, b, geom):
    """(N, channels, H*W) views of two NCHW arrays and the group sizes (Kg, Cg)."""
    return _planes(a), _planes(b), geom.K // geom.groups, geom.C // geom.groups


def _column_filter_rows(geom):
    """(r, p0, p1, shift) for each row r of a column filter (:func:`columns_are_views`) that meets the input:
    output rows p0..p1-1 read input rows p0 + shift onwards, ``shift`` = r*dilation_h - pad_top. Those
    covering the most rows first, so that a first one covering every row can overwrite the result."""
    rows = []
    for r in range(geom.R):
        shift = r * geom.dilation[0] - geom.pad_top
        p0, p1 = max(0, -shift), min(geom.P, geom.H - shift)
        if p1 > p0:
            rows.append((r, p0, p1, shift))
    return sorted(rows, key=lambda row: row[1] - row[2])


def _filter_rows(weight):
    """weight (K, Cg, R, 1) as (R, K, Cg) matrices, one per filter row, contiguous (in the workspace)."""
    rows = _workspace.get("filter_rows", (weight.shape[2], *weight.shape[:2]), weight.dtype)
    rows[...] = weight[:, :, :, 0].transpose(2, 0, 1)
    return rows


def _forward_column_filter(x, weight, out, geom):
    """out[n, group k] = sum over filter rows r of weight[group k, :, r] (Kg, Cg) @ x[n, group c] shifted by
    r rows (Cg, P*W): the columns are views of x, so no column matrix is built."""
    Kg, Cg, W = geom.K // geom.groups, geom.C // geom.groups, geom.W
    x3, out3, filters = _planes(x), _planes(out), _filter_rows(weight)
    rows = _column_filter_rows(geom)
    covers_all = bool(rows) and rows[0][1:3] == (0, geom.P)
    if not covers_all:
        out[...] = 0
    for i, (r, p0, p1, shift) in enumerate(rows):
        for g in range(geom.groups):
            matmul(
                filters[r, g * Kg : (g + 1) * Kg],
                x3[:, g * Cg : (g + 1) * Cg, (p0 + shift) * W : (p1 + shift) * W],
                out3[:, g * Kg : (g + 1) * Kg, p0 * W : p1 * W],
                accumulate=i > 0,  # the first filter row overwrites its rows
            )


def _grad_input_column_filter(grad_out, weight, grad_x, geom):
    """grad_x[n, group c] rows shifted by r += weight[group k, :, r].T (Cg, Kg) @ grad_out[n, group k], for
    each filter row r: the rows col2im would add up, summed straight into grad_x (no column matrix)."""
    Kg, Cg, W = geom.K // geom.groups, geom.C // geom.groups, geom.W
    g3, gx3, filters = _planes(grad_out), _planes(grad_x), _filter_rows(weight)
    rows = _column_filter_rows(geom)
    covers_all = bool(rows) and (rows[0][1] + rows[0][3], rows[0][2] + rows[0][3]) == (0, geom.H)
    if not covers_all:
        grad_x[...] = 0
    for i, (r, p0, p1, shift) in enumerate(rows):
        for g in range(geom.groups):
            matmul(
                filters[r, g * Kg : (g + 1) * Kg].T,
                g3[:, g * Kg : (g + 1) * Kg, p0 * W : p1 * W],
                gx3[:, g * Cg : (g + 1) * Cg, (p0 + shift) * W : (p1 + shift) * W],
                accumulate=i > 0,  # the first filter row overwrites its rows
            )


def _grad_weight_column_filter(grad_out, x, grad_weight, geom):
    """grad_weight[group k, :, r] (Kg, Cg) = sum over images of grad_out[n, group k] (Kg, P*W) @ the rows
    of x[n, group c] shifted by r, transposed (P*W, Cg): no column matrix."""
    Kg, Cg, W = geom.K // geom.groups, geom.C // geom.groups, geom.W
    g3, x3 = _planes(grad_out), _planes(x)
    sums = _workspace.get("filter_rows", (geom.R, geom.K, Cg), x.dtype)
    sums[...] = 0  # filter rows that meet only padding
    for r, p0, p1, shift in _column_filter_rows(geom):
        for g in range(geom.groups):
            matmul(
                g3[:, g * Kg : (g + 1) * Kg, p0 * W : p1 * W],
                x3[:, g * Cg : (g + 1) * Cg, (p0 + shift) * W : (p1 + shift) * W].transpose(0, 2, 1),
                sums[r, g * Kg : (g + 1) * Kg],
            )
    grad_weight[:, :, :, 0] = sums.transpose(1, 2, 0)


def forward_im2col(x, weight, out, geom):
    """out[n, group k] = weight[group k] (Kg, Cg*R*S) @ cols (Cg*R*S, nb*P*Q), chunk by chunk."""
    if geom.pointwise:
        x3, out3, Kg, Cg = _pointwise_views(x, out, geom)
        for g in range(geom.groups):
            matmul(weight[g * Kg : (g + 1) * Kg, :, 0, 0], x3[:, g * Cg : (g + 1) * Cg], out3[:, g * Kg : (g + 1) * Kg])
        return
    if columns_are_views(geom):
        _forward_column_filter(x, weight, out, geom)
        return
    Kg, Cg = geom.K // geom.groups, geom.C // geom.groups
    w2 = weight.reshape(geom.K, -1)
    PQ = geom.P * geom.Q
    out3 = _planes(out)
    per_image = products_per_image(geom)
    for n0, n1 in _chunks(geom, x.itemsize):
        cols = _workspace.get("cols", (w2.shape[1], (n1 - n0) * PQ), x.dtype)
        for g in range(geom.groups):
            _fill_columns(x, cols, n0, g * Cg, geom)
            filters, result = w2[g * Kg : (g + 1) * Kg], out3[n0:n1, g * Kg : (g + 1) * Kg]
            if per_image:
                matmul(filters, _per_image(cols, n1 - n0), result)
            else:
                product = _workspace.get("product", (Kg, (n1 - n0) * PQ), x.dtype)
                matmul(filters, cols, product)
                result[...] = product.reshape(Kg, n1 - n0, PQ).transpose(1, 0, 2)


def grad_weight_im2col(grad_out, x, grad_weight, geom):
    """grad_weight[group k] = sum over chunks of G (Kg, nb*P*Q) @ cols.T (the lecture's G M_X^im)."""
    Kg, Cg = geom.K // geom.groups, geom.C // geom.groups
    gw2 = grad_weight.reshape(geom.K, -1)
    if geom.pointwise and Kg * Cg * x.itemsize < POINTWISE_FOLD_MIN_BYTES_PER_PIXEL * geom.P * geom.Q:
        g3, x3, Kg, Cg = _pointwise_views(grad_out, x, geom)
        for g in range(geom.groups):
            matmul(
                g3[:, g * Kg : (g + 1) * Kg],
                x3[:, g * Cg : (g + 1) * Cg].transpose(0, 2, 1),
                gw2[g * Kg : (g + 1) * Kg],
            )
        return
    if columns_are_views(geom):
        _grad_weight_column_filter(grad_out, x, grad_weight, geom)
        return
    g3, per_image = _planes(grad_out), products_per_image(geom)
    for n0, n1 in _chunks(geom, x.itemsize):
        cols = _workspace.get("cols", (gw2.shape[1], (n1 - n0) * geom.P * geom.Q), x.dtype)
        for g in range(geom.groups):
            _fill_columns(x, cols, n0, g * Cg, geom)
            block = gw2[g * Kg : (g + 1) * Kg]
            if per_image:
                matmul(
                    g3[n0:n1, g * Kg : (g + 1) * Kg],
                    _per_image(cols, n1 - n0).transpose(0, 2, 1),
                    block,
                    accumulate=n0 > 0,
                )
            else:
                matmul(_rows_of(grad_out, n0, n1, g * Kg, (g + 1) * Kg), cols.T, block, accumulate=n0 > 0)


def grad_input_im2col(grad_out, weight, grad_x, geom):
    """grad_x = col2im(weight[group].T (Cg*R*S, Kg) @ G (Kg, nb*P*Q)), chunk by chunk."""
    Kg, Cg = geom.K // geom.groups, geom.C // geom.groups
    w2 = weight.reshape(geom.K, -1)
    if geom.pointwise:
        g3, gx3, Kg, Cg = _pointwise_views(grad_out, grad_x, geom)
        for g in range(geom.groups):
            matmul(w2[g * Kg : (g + 1) * Kg].T, g3[:, g * Kg : (g + 1) * Kg], gx3[:, g * Cg : (g + 1) * Cg])
        return
    if columns_are_views(geom):
        _grad_input_column_filter(grad_out, weight, grad_x, geom)
        return
    g3, per_image = _planes(grad_out), products_per_image(geom)
    for n0, n1 in _chunks(geom, grad_out.itemsize):
        cols = _workspace.get("cols", (w2.shape[1], (n1 - n0) * geom.P * geom.Q), grad_out.dtype)
        for g in range(geom.groups):
            filters_t = w2[g * Kg : (g + 1) * Kg].T
            if per_image:
                matmul(filters_t, g3[n0:n1, g * Kg : (g + 1) * Kg], _per_image(cols, n1 - n0))
            else:
                matmul(filters_t, _rows_of(grad_out, n0, n1, g * Kg, (g + 1) * Kg), cols)
            col2im(cols, grad_x, n0, g * Cg, geom.R, geom.S, geom.P, geom.Q, *geom.kernel_args)
