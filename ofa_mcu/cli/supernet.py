"""``ofa-mcu supernet``: check a checkpoint against the supernet, print its manifest, write a
freshly initialised one."""
from __future__ import annotations

import argparse
import json

from ..config import get_space
from .common import add_seed_arg, add_space_arg, checkpoint_arg


def cmd_check(args: argparse.Namespace) -> int:
    """Load CKPT into the space's supernet with strict=True; one line either way."""
    from ..nn import OFAMCUNet, load_supernet_state

    cfg = get_space(args.space)
    net = OFAMCUNet(cfg)
    load_supernet_state(net, args.checkpoint)
    sd = net.state_dict()
    n_params = sum(p.numel() for p in net.parameters())
    print(f"ok: {args.checkpoint} fits the supernet of space {cfg.name!r} "
          f"({len(sd)} tensors, {n_params:,} parameters)")
    return 0


def cmd_manifest(args: argparse.Namespace) -> int:
    """Print every state_dict key with its shape and dtype (the format of
    ``state_dict_manifest.json``)."""
    from ..nn import OFAMCUNet

    cfg = get_space(args.space)
    net = OFAMCUNet(cfg)
    rows = [[k, list(v.shape), str(v.dtype)] for k, v in net.state_dict().items()]
    print(json.dumps(rows))
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    """Write a freshly initialised supernet checkpoint (``{"state_dict": ...}``)."""
    import io

    import torch

    from ..io import atomic_write_bytes, check_output_file
    from ..nn import OFAMCUNet

    cfg = get_space(args.space)
    check_output_file(args.out, args.force, what="checkpoint")
    torch.manual_seed(args.seed)
    net = OFAMCUNet(cfg)
    buf = io.BytesIO()
    torch.save({"state_dict": net.state_dict(), "space": cfg.to_dict()}, buf)
    atomic_write_bytes(args.out, buf.getvalue())
    print(f"wrote {args.out} (random init, space {cfg.name!r}, seed {args.seed})")
    return 0


def register(sub) -> None:
    """Add ``supernet check|manifest|init``."""
    p = sub.add_parser("supernet", help="the OFA-MCUNet supernet: checkpoints and structure")
    s = p.add_subparsers(dest="supernet_command", metavar="SUBCOMMAND", required=True)
    ch = s.add_parser("check", help="check that a checkpoint loads into the supernet with strict=True")
    ch.add_argument("checkpoint", metavar="CKPT", type=checkpoint_arg("checkpoint"),
                    help=".pth/.pt file: a state_dict or {'state_dict': ...}, fp16 or fp32")
    add_space_arg(ch)
    ch.set_defaults(func=cmd_check)
    ma = s.add_parser("manifest", help="print the supernet's state_dict keys, shapes and dtypes as JSON")
    add_space_arg(ma)
    ma.set_defaults(func=cmd_manifest)
    it = s.add_parser("init", help="write a freshly initialised supernet checkpoint")
    it.add_argument("--out", required=True, help="output .pth path")
    add_space_arg(it)
    add_seed_arg(it)
    it.add_argument("--force", action="store_true", help="overwrite an existing file")
    it.set_defaults(func=cmd_init)
