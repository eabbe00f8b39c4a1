"""Training, BN re-calibration and evaluation of supernets and subnets (import submodules directly)."""
