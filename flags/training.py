"""The same module as `mtl_tf.cli.flags.training`, under its old name `flags.training`.

The flags moved into the package so that an installed wheel has them; a checkout keeps
`from flags import training` working. This file makes the name refer to that very module (not
a copy: its flags, validators and module-level state are the package's).
"""

import sys

from mtl_tf.cli.flags import training

sys.modules[__name__] = training
