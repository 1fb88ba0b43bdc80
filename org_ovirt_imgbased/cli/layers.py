# SPDX-License-Identifier: GPL-2.0-or-later
"""The layout, base and layer verbs of `imgbase` (parsers and thin handlers)."""

from __future__ import annotations

from pathlib import Path

from org_ovirt_imgbased import defaults, paths
from org_ovirt_imgbased.cli.common import Result, json_flag, one_of
from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host import layers, naming, staging
from org_ovirt_imgbased.host.context import Context
from org_ovirt_imgbased.host.layout import Layout, render_tree
from org_ovirt_imgbased.host.storage import lvm
from org_ovirt_imgbased.units import human, parse_size

# --- layout ---------------------------------------------------------------------------------------

def add_layout(sub) -> None:
    """imgbase layout [--init ...] [--json]."""
    p = sub.add_parser("layout", help="show the bases and layers, or initialise the layout",
                       description="Without options: print the tree of bases and layers, marking "
                       "the current (booted) and newest layer, with sizes and usage. With --init: "
                       "create the layout, either on fresh PVs (--pvs) or by adopting an installed "
                       "thin root LV (--from, default: the LV mounted at /).")
    p.add_argument("--init", action="store_true", help="initialise the imgbased layout")
    p.add_argument("--pvs", nargs="+", metavar="DEV", help="with --init: devices for a new VG")
    p.add_argument("--from", dest="source", metavar="VG/LV",
                   help="with --init: adopt this installed root LV (default: the LV mounted at /)")
    p.add_argument("--pool", default=defaults.POOL, help=f"with --pvs: thin pool name (default {defaults.POOL})")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--pool-size", metavar="SIZE", help="with --pvs: pool data size, e.g. 40G")
    size.add_argument("--pool-percent", type=int, default=80, metavar="N",
                      help="with --pvs: pool data size as a percentage of the VG (default 80)")
    json_flag(p)
    p.set_defaults(handler=do_layout)


def do_layout(ctx: Context, args) -> Result:
    """Show or initialise the layout."""
    if not args.init:
        if args.pvs or args.source:
            raise ImgbaseError("--pvs and --from need --init")
        layout = ctx.layout()
        staged = staging.list_staged(paths.staging_dir())
        text = render_tree(layout) + "".join(f"\nstaged: {s.name} version {s.version} ({human(s.size)}), "
                                            "applied by `imgbase update`" for s in staged)
        return {**layout.to_dict(), "staged": [s.as_json() for s in staged]}, text
    if args.pvs and args.source:
        raise ImgbaseError("use either --pvs (new VG) or --from (adopt a root LV), not both")
    if args.pvs:
        vg = ctx.vg or defaults.VG
        pool_size = parse_size(args.pool_size) if args.pool_size else None
        layers.init_pvs(ctx, args.pvs, vg, args.pool, pool_size, args.pool_percent)
        return {"vg": vg, "pool": args.pool}, f"created VG {vg} with thin pool {args.pool}"
    layer = layers.init_from(ctx, args.source)
    return {"layer": layer}, f"adopted the root as Base-0; new layer {layer}"


# --- base -----------------------------------------------------------------------------------------

def add_base(sub) -> None:
    """imgbase base --add|--list|--latest|--of-layer|--remove|--pin|--unpin."""
    p = sub.add_parser("base", help="add, list or remove bases (read-only image LVs)",
                       description="A base holds one OS image in a read-only thin LV (Base-N). IMAGE "
                       "is an ext4 image file, a liveimg squashfs (LiveOS/rootfs.img inside), a "
                       "tarball or a directory. It is copied sparsely: empty blocks are not written.")
    g = one_of(p)
    g.add_argument("--add", action="store_true", help="create the next base from IMAGE")
    g.add_argument("--list", action="store_true", help="list the bases")
    g.add_argument("--latest", action="store_true", help="print the newest base")
    g.add_argument("--of-layer", metavar="LAYER", help="print the base of LAYER")
    g.add_argument("--remove", metavar="BASE", help="remove BASE (with --force also its layers)")
    g.add_argument("--pin", metavar="BASE", help="keep BASE from garbage collection")
    g.add_argument("--unpin", metavar="BASE", help="allow garbage collection of BASE again")
    p.add_argument("image", nargs="?", type=Path, metavar="IMAGE", help="with --add: the image to add")
    p.add_argument("--size", metavar="SIZE", help="with --add: LV size (default: the image's filesystem size)")
    p.add_argument("--checksum", metavar="sha256:HEX", help="with --add: verify IMAGE before anything")
    p.add_argument("--force", action="store_true", help="with --remove: also remove the base's layers")
    json_flag(p)
    p.set_defaults(handler=do_base)


def _base_row(layout: Layout, base) -> dict:
    """One base as a JSON-ready row."""
    return {"name": base.name, "size": base.lv.size, "image": lvm.tag_value(base.lv.tags, "imgbased:image"),
            "sha256": lvm.tag_value(base.lv.tags, "imgbased:sha256"), "pinned": base.lv.has(lvm.TAG_PINNED),
            "layers": [lv.name for lv in base.layers]}


def do_base(ctx: Context, args) -> Result:
    """Dispatch the base actions."""
    if args.image and not args.add:
        raise ImgbaseError("IMAGE only goes with --add")
    if args.add:
        if not args.image:
            raise ImgbaseError("--add needs an IMAGE: imgbase base --add [--size SIZE] IMAGE")
        size = parse_size(args.size) if args.size else None
        name = layers.add_base(ctx, args.image, size, args.checksum)
        return {"base": name}, f"added base {name}"
    if args.remove:
        layers.remove_base(ctx, args.remove, args.force)
        return {"removed": args.remove}, f"removed base {args.remove}"
    if args.pin or args.unpin:
        name = args.pin or args.unpin
        layers.set_pinned(ctx, name, bool(args.pin))
        return {"base": name, "pinned": bool(args.pin)}, f"{'pinned' if args.pin else 'unpinned'} {name}"
    layout = ctx.layout()
    if args.latest:
        base = layout.latest_base()
        if base is None:
            raise ImgbaseError("there are no bases yet; add one with `imgbase base --add IMAGE`")
        return {"base": base.name}, base.name
    if args.of_layer:
        base = layout.base_of(layout.layer(args.of_layer).name)
        return {"base": base.name}, base.name
    rows = [_base_row(layout, b) for b in layout.bases]
    text = "\n".join(f"{r['name']}  {human(r['size'])}  {r['image'] or '-'}"
                     f"{'  pinned' if r['pinned'] else ''}" for r in rows)
    return rows, text


# --- layer ----------------------------------------------------------------------------------------

def add_layer(sub) -> None:
    """imgbase layer --add|--list|--latest|--current|--remove."""
    p = sub.add_parser("layer", help="add, list or remove layers (writable snapshots of a base)",
                       description="A layer (Base-N.M) is a writable thin snapshot of a base, with "
                       "its own boot entry, kernel and initrd.")
    g = one_of(p)
    g.add_argument("--add", action="store_true", help="create the next layer")
    g.add_argument("--list", action="store_true", help="list the layers")
    g.add_argument("--latest", action="store_true", help="print the newest layer")
    g.add_argument("--current", action="store_true", help="print the layer running now")
    g.add_argument("--remove", metavar="LAYER", help="remove LAYER and its boot entry")
    p.add_argument("--base", metavar="BASE", help="with --add: the base (default: the newest)")
    json_flag(p)
    p.set_defaults(handler=do_layer)


def do_layer(ctx: Context, args) -> Result:
    """Dispatch the layer actions."""
    if args.add:
        name = layers.add_layer(ctx, args.base)
        return {"layer": name}, f"added layer {name}"
    if args.base:
        raise ImgbaseError("--base only goes with --add")
    if args.remove:
        layers.remove_layer(ctx, args.remove)
        return {"removed": args.remove}, f"removed layer {args.remove}"
    layout = ctx.layout()
    if args.latest:
        lv = layout.latest_layer()
        if lv is None:
            raise ImgbaseError("there are no layers yet; add one with `imgbase layer --add`")
        return {"layer": lv.name}, lv.name
    if args.current:
        if layout.current is None or layout.current not in [lv.name for lv in layout.layers()]:
            raise ImgbaseError("the system is not running from an imgbased layer")
        return {"layer": layout.current}, layout.current
    rows = [{"name": lv.name, "base": str(naming.parse_layer(lv.name).base_name), "size": lv.size,
             "used_percent": lv.data_percent, "current": lv.name == layout.current} for lv in layout.layers()]
    text = "\n".join(f"{r['name']}{'  (current)' if r['current'] else ''}" for r in rows)
    return rows, text


VERBS = [add_layout, add_base, add_layer]
