"""The one exception of the dataset readers."""

from __future__ import annotations


class DatasetError(ValueError):
    """A dataset on disk does not match its documented layout or annotation format.

    The message always says where: the file (and the row, for a spreadsheet) and what was
    found there, so a broken or differently-versioned release can be fixed by hand, e.g.
    ``CASME2-coding-20140508.xlsx row 14: OnsetFrame 'abc' is not a number``.
    """
