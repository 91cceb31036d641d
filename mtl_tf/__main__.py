"""`python -m mtl_tf`: the `mtl-tf` command line."""

from mtl_tf.cli import main

if __name__ == "__main__":
    main()
