"""Names that several parts of fastconv share, defined once and imported everywhere else."""

# The ways a pass can be computed, and what ``method=`` accepts ("auto" chooses one of them).
METHODS = ("direct", "im2col", "winograd")
METHOD_CHOICES = ("auto", *METHODS)

# The three passes of a convolution layer: its output and the two gradients.
PASSES = ("forward", "grad_input", "grad_weight")

# The floating-point types every function takes; results keep the input's.
DTYPE_NAMES = ("float32", "float64")
