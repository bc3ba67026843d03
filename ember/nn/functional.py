"""ember.nn.functional: the functional form of every nn layer, loss and activation.

The ops live in their families under `ember/ops/`; this module gathers them under
PyTorch's names (`import ember.nn.functional as F`).
"""
from ..ops.activation import (  # noqa: F401
    celu, celu_, elu, elu_, gelu, glu, hardsigmoid, hardswish, hardtanh, hardtanh_, leaky_relu, leaky_relu_,
    log_softmax, logsigmoid, mish, prelu, relu, relu6, relu_, selu, selu_, silu, softmax, softmin, softplus,
    softsign, tanhshrink, threshold, threshold_,
)
from ..ops.conv import conv1d, conv2d, conv_transpose1d, conv_transpose2d, fold, unfold  # noqa: F401
from ..ops.elementwise import sigmoid, tanh  # noqa: F401
from ..ops.loss import (  # noqa: F401
    binary_cross_entropy, binary_cross_entropy_with_logits, cosine_embedding_loss, cross_entropy,
    gaussian_nll_loss, hinge_embedding_loss, huber_loss, kl_div, l1_loss, margin_ranking_loss, mse_loss,
    nll_loss, poisson_nll_loss, smooth_l1_loss, soft_margin_loss,
)
from ..ops.nn_misc import (  # noqa: F401
    alpha_dropout, bilinear, cosine_similarity, dropout, dropout1d, dropout2d, dropout3d, embedding,
    feature_alpha_dropout, interpolate, linear, normalize, one_hot, pad, pairwise_distance, pixel_shuffle,
    pixel_unshuffle,
)
from ..ops.normalization import batch_norm, group_norm, instance_norm, layer_norm, local_response_norm  # noqa: F401
from ..ops.pool import (  # noqa: F401
    adaptive_avg_pool2d, adaptive_max_pool2d, avg_pool1d, avg_pool2d, max_pool1d, max_pool2d, max_unpool2d,
)
