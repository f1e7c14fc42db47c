"""Job groups of the ``monarch-sci`` command; each module defines ``register(subparsers)``.

Conventions for a job module (``ns.py``, ``pde.py``, ``mri.py``, ...):

* ``register(groups)`` calls ``groups.add_parser(NAME, help=...)``, sets ``group_parser=<that parser>`` as a
  default (so ``monarch-sci NAME`` alone prints the group's help), adds sub-commands with
  ``set_defaults(func=...)``, and imports nothing heavy at module level.
* A command returns an exit status (0 or ``None`` for success).
"""
