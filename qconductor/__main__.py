"""``python -m qconductor`` is the ``qconductor`` command."""

import sys

from qconductor.daemon.cli import main

sys.exit(main())
