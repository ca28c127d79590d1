"""biasbench: static-bias evaluation suite for open-vocabulary action recognition.

Importing this package is cheap (no torch, no open_clip): the CLI's ``--help`` and ``list``
rely on it. Heavy modules are imported where they are used.
"""

__version__ = "0.1.0"
