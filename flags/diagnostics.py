"""The same module as `mtl_tf.cli.flags.diagnostics`, under its old name `flags.diagnostics`.

The flags moved into the package so that an installed wheel has them; a checkout keeps
`from flags import diagnostics` working. This file makes the name refer to that very module (not
a copy: its flags, validators and module-level state are the package's).
"""

import sys

from mtl_tf.cli.flags import diagnostics

sys.modules[__name__] = diagnostics
