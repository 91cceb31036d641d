"""absl flag definitions of the mtl_tf command line (`flags/definitions.py`) and
flagfiles for named experiments (`flags/*.flags`)."""
