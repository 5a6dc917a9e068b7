"""The papers' models, one class per architecture (PyTorch; the runtime never imports
this package)."""

from train.models.fusenet import MicroExpFuseNetIntermediate, MicroExpFuseNetLate
from train.models.stcnn import MicroExpSTCNN

__all__ = ["MicroExpFuseNetIntermediate", "MicroExpFuseNetLate", "MicroExpSTCNN"]
