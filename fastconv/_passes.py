"""The six convolution passes, by (pass, method)."""

from ._direct_passes import forward_direct, grad_input_direct, grad_weight_direct
from ._im2col_passes import forward_im2col, grad_input_im2col, grad_weight_im2col
from ._winograd_passes import forward_winograd, grad_input_winograd, grad_weight_winograd

PASSES = {
    ("forward", "direct"): forward_direct,
    ("forward", "im2col"): forward_im2col,
    ("grad_input", "direct"): grad_input_direct,
    ("grad_input", "im2col"): grad_input_im2col,
    ("grad_weight", "direct"): grad_weight_direct,
    ("grad_weight", "im2col"): grad_weight_im2col,
    ("forward", "winograd"): forward_winograd,
    ("grad_input", "winograd"): grad_input_winograd,
    ("grad_weight", "winograd"): grad_weight_winograd,
}
