"""``python -m monarch_sci.cli`` (what ``torchrun -m`` runs): the ``monarch-sci`` command."""

import sys

from monarch_sci.cli import main

sys.exit(main())
