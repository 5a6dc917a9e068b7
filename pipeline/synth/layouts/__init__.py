"""Synthetic footage written in the real ME datasets' own on-disk layouts.

The real datasets (CASME II, SMIC-HS, CAS(ME)^2, SAMM, SAMM Long Videos) are licence
restricted, so their readers are tested on synthetic clips written exactly as the
datasets ship them: folder and image naming, absolute frame numbers, spreadsheet
columns and their known quirks (docs/field.md section 3). One writer per layout:

- :func:`write_casme2` -> ``CASME2/CASME2-RAW/subXX/EPyy_zz/imgN.jpg`` + coding sheet
- :func:`write_smic_hs` -> ``SMIC/HS/sN/micro/<class>/sN_po_NN/imageNNNNNN.jpg``
- :func:`write_casme_sq` -> ``CASME_sq/rawpic/s15/15_0101disgustingteeth/img001.jpg``
- :func:`write_samm` -> ``SAMM/006/006_1_2/006_05562.jpg`` (grayscale)
- :func:`write_samm_lv` -> ``SAMM_longvideos/006_1/006_1_0001.jpg`` (grayscale)

Every dataset root also holds ``MESTREAM_SYNTHETIC.txt``: the data is synthetic.
"""

from pipeline.synth.layouts.casme2 import write_casme2
from pipeline.synth.layouts.casme_sq import write_casme_sq
from pipeline.synth.layouts.clip import DatasetClip
from pipeline.synth.layouts.samm import write_samm, write_samm_lv
from pipeline.synth.layouts.smic import write_smic_hs

__all__ = ["DatasetClip", "write_casme2", "write_casme_sq", "write_samm", "write_samm_lv",
           "write_smic_hs"]
