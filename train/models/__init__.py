"""The papers' models, one class per architecture (PyTorch; the runtime never imports
this package)."""

from train.models.au_net import MicroExpAUNet
from train.models.fusenet import MicroExpFuseNetIntermediate, MicroExpFuseNetLate
from train.models.stcnn import MicroExpSTCNN
from train.models.time_contrast import TimeContrastedMemoryNet

__all__ = ["MicroExpAUNet", "MicroExpFuseNetIntermediate", "MicroExpFuseNetLate", "MicroExpSTCNN",
           "TimeContrastedMemoryNet"]
