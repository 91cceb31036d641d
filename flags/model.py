"""The same module as `mtl_tf.cli.flags.model`, under its old name `flags.model`.

The flags moved into the package so that an installed wheel has them; a checkout keeps
`from flags import model` working. This file makes the name refer to that very module (not
a copy: its flags, validators and module-level state are the package's).
"""

import sys

from mtl_tf.cli.flags import model

sys.modules[__name__] = model
