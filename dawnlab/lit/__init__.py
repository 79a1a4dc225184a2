"""LIT: block-wise intermediate-representation training to compress deep networks.

Koratana, Kang, Bailis and Zaharia, arXiv 1810.01937 (ICML 2019).  Name a
teacher's blocks, stem and head; :class:`LIT` trains a shallower student of the
same width block by block on the teacher's intermediate representations
(teacher forcing), then fine-tunes it with knowledge distillation.  The
baselines (scratch, KD, FitNets, Born-Again) run on the same seeds and budget in
:mod:`dawnlab.lit.baselines`; :mod:`dawnlab.lit.gan` applies LIT to a GAN
generator, scored by a Frechet distance on a digit classifier's features.
"""

from dawnlab.lit.baselines import train_born_again, train_fitnets, train_kd, train_scratch
from dawnlab.lit.blocks import capture, resolve_blocks, weighted_layers
from dawnlab.lit.errors import LITError, NonFiniteLossError
from dawnlab.lit.losses import ir_loss, kd_loss
from dawnlab.lit.models import ResNet1D, layer_count, resnet_spec, resnet_stages
from dawnlab.lit.compare import METHODS, compare, make_model, run_seed, train_method, train_teacher
from dawnlab.lit.trainer import LIT, teacher_irs

__all__ = ["LIT", "teacher_irs", "LITError", "NonFiniteLossError", "kd_loss", "ir_loss", "ResNet1D",
           "resnet_spec", "resnet_stages", "layer_count", "capture", "resolve_blocks", "weighted_layers",
           "train_scratch", "train_kd", "train_fitnets", "train_born_again", "METHODS", "compare", "make_model",
           "run_seed", "train_teacher", "train_method"]
