"""``python -m ofa_mcu``: the same as the ``ofa-mcu`` command."""
import sys

from .cli import main

sys.exit(main())
